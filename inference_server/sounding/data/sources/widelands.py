"""Widelands (``widelands-data``): animal calls, hammering and saws from ``data/sound`` and the duck critter, mapped
by file name. Numbered files ``x_00`` .. ``x_NN`` of one sound are one recording (cuts or retakes of one session),
except where the files are plainly separate recordings (``horse_00``/``01`` and ``ox_00``/``01`` differ in sample
rate). Checked against every generation-1 clip of the same class and every other new one by waveform
cross-correlation: only ``crickets1``/``crickets2`` matched (0.99, one recording); everything else stays below 0.6.
Left out: voices, music, the ambiguous ``farm_animal``, ``mill``, ``smith`` and ``woodcutting`` (an axe)."""
from __future__ import annotations

from pathlib import Path

from sounding.data.sources import SourceClip
from sounding.data.sources.file_table import FileGroup, table_clips

NAME = "widelands"
PACKAGES = ("widelands-data",)
LICENCE = "GPL-2+"
GENERATION = 2
DATA_DIR = Path("/usr/share/games/widelands/data")

GROUPS = (
    *(FileGroup(f"sound/animals/bird{n}", "bird", "A bird singing.", (f"sound/animals/bird{n}_*.ogg",))
      for n in range(1, 7)),
    FileGroup("world/critters/duck/duck", "duck", "A duck quacking.", ("world/critters/duck/duck_*.ogg",)),
    FileGroup("sound/animals/frog", "frog", "A frog croaking.", ("sound/animals/frog.ogg",)),
    # crickets1 and crickets2 are cuts of one recording (waveform cross-correlation 0.99).
    FileGroup("sound/animals/crickets", "insect", "Crickets chirping.", ("sound/animals/crickets[12]_*.ogg",)),
    FileGroup("sound/farm/horse_00", "horse", "A horse neighing.", ("sound/farm/horse_00.ogg",)),
    FileGroup("sound/farm/horse_01", "horse", "A horse neighing.", ("sound/farm/horse_01.ogg",)),
    FileGroup("sound/farm/ox_00", "cow", "An ox lowing.", ("sound/farm/ox_00.ogg",)),
    FileGroup("sound/farm/ox_01", "cow", "An ox lowing.", ("sound/farm/ox_01.ogg",)),
    FileGroup("sound/farm/sheep", "sheep", "A sheep bleating.", ("sound/farm/sheep_*.ogg",)),
    FileGroup("sound/animals/boar", "pig", "A boar grunting.", ("sound/animals/boar.ogg",)),
    FileGroup("sound/hammering/hammering", "hammer", "Hammering.", ("sound/hammering/hammering_*.ogg",)),
    FileGroup("sound/hammering/geologist_hammer", "hammer", "A hammer striking rock.",
              ("sound/hammering/geologist_hammer.ogg",)),
    FileGroup("sound/atlanteans/saw/benchsaw", "saw", "A bench saw cutting.", ("sound/atlanteans/saw/benchsaw_*.ogg",)),
    FileGroup("sound/atlanteans/saw/sawing", "saw", "Sawing wood.", ("sound/atlanteans/saw/sawing_*.ogg",)),
    FileGroup("sound/sawmill/sawmill", "saw", "A sawmill.", ("sound/sawmill/sawmill_*.ogg",)),
)


def clips(data_dir: Path = DATA_DIR) -> list[SourceClip]:
    return table_clips(NAME, PACKAGES[0], data_dir, GROUPS, LICENCE, GENERATION)
