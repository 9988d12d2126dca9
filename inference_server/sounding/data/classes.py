"""The Foley-Mini classes: what each sounds like in a caption and where pictures of it come from.

Sources map their recordings onto these labels (each in its own module); the image pools serve recordings that have no
picture of their own (sound banks) and the composed scenes. Globs are relative to the image roots in
:mod:`sounding.data.images`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoundClass:
    #: Noun phrase used in captions ("a dog barking").
    caption: str
    #: (image root, glob) pairs; see :data:`sounding.data.images.IMAGE_ROOTS`.
    images: tuple[tuple[str, str], ...] = ()


def _tux(*globs: str) -> tuple[tuple[str, str], ...]:
    return tuple(("tuxpaint", glob) for glob in globs)


def _home(*globs: str) -> tuple[tuple[str, str], ...]:
    return tuple(("sweethome3d", glob) for glob in globs)


def _clip(*globs: str) -> tuple[tuple[str, str], ...]:
    return tuple(("openclipart", glob) for glob in globs)


CLASSES: dict[str, SoundClass] = {
    "dog": SoundClass("a dog barking", _home("BlendSwap-CC-BY/bulldog.png", "Scopia/dog.png") + _tux("animals/mammals/dogs/dog.png", "animals/mammals/dogs/dingo.png")
                      + _clip("animals/mammals/dogs/*.png", "animals/mammals/dog_0*.png")),
    "bird": SoundClass("a bird singing", _tux("animals/birds/blackbird.png", "animals/birds/magpie.png",
                                              "animals/birds/pigeon.png", "animals/birds/rainbow-lorikeet.png",
                                              "animals/birds/adelaide-rosella.png")
                       + _clip("animals/birds/crow_01.png", "animals/birds/eagle_01.png",
                               "animals/birds/uccello_profilo_0*.png")),
    "chicken": SoundClass("a chicken clucking", _home("BlendSwap-CC-0/chicken.png") + _tux("animals/birds/chicken_profile.png", "animals/birds/hen.png")
                          + _clip("animals/birds/hen_01.png", "animals/birds/rooster_01.png",
                                  "animals/birds/gallo_di_profilo_archite_01.png")),
    "duck": SoundClass("a duck quacking", _tux("animals/birds/duck.png", "animals/birds/drake.png")
                       + _clip("animals/birds/duck_yellow*.png", "animals/birds/jonathon_s_duck_01.png")),
    "cow": SoundClass("a cow mooing", _tux("animals/mammals/bovines/cow.png", "animals/mammals/bovines/zebu.png",
                                           "animals/mammals/bovines/yak.png")
                      + _clip("animals/mammals/vacca_pezzata_rossa_val_01.png", "animals/mammals/bull_utrescu_.png")),
    "sheep": SoundClass("a sheep bleating", _tux("animals/mammals/bovines/sheep.png")
                        + _clip("animals/mammals/sheep-md-v0.1.png", "animals/mammals/pecora_architetto_france_01.png")),
    "goat": SoundClass("a goat bleating", _tux("animals/mammals/bovines/goat.png")
                       + _clip("animals/mammals/goat_nicu_buculei_01.png",
                               "animals/mammals/stambecco_valdostano_arc_01.png")),
    "horse": SoundClass("a horse neighing", _home("BlendSwap-CC-0/horse2.png", "BlendSwap-CC-BY/horse.png") + _tux("animals/mammals/equines/horse.png")
                        + _clip("animals/mammals/horses/*.png")),
    "pig": SoundClass("a pig grunting", _tux("animals/mammals/pig.png", "animals/mammals/wildboar.png")
                      + _clip("animals/mammals/a_simple_pig_01.png", "animals/mammals/pig_marcelo_caiafa1.png",
                              "animals/mammals/porcinet_01.png")),
    "lion": SoundClass("a lion roaring", _tux("animals/mammals/cats/lion-2.png", "animals/mammals/cats/tiger_sumatran.png")
                       + _clip("animals/mammals/big_cats/*.png")),
    "elephant": SoundClass("an elephant trumpeting", _tux("animals/mammals/elephant.png")
                           + _clip("animals/mammals/elephant_01.png", "animals/mammals/elefante0*.png")),
    "monkey": SoundClass("a monkey chattering", _tux("animals/mammals/apes/tamarin_emperor.png")
                         + _clip("animals/mammals/*monkey*.png", "animals/sailor_monkey_nicu_bucul_01.png")),
    "insect": SoundClass("an insect buzzing", _tux("animals/insects/fly.png", "animals/insects/hoverfly.png")
                         + _clip("animals/bugs/bee*.png", "animals/bugs/flying_wasp*.png", "animals/bugs/fly_01.png",
                                 "animals/mosquito_peterm_01.png")),
    "frog": SoundClass("a frog croaking", _tux("animals/amphibians/frog-1.png")
                       + _clip("animals/rana0*.png", "animals/red-eye_frog_mirko_maisc_01.png")),
    "car": SoundClass("a car engine running", _home("Scopia/truck.png", "Scopia/smart-car.png", "Scopia/cityBus.png", "BlendSwap-CC-BY/dafTruck.png", "BlendSwap-CC-0/motorbike.png") + _tux("vehicles/auto/*.png", "vehicles/race/indycar.png",
                                                  "vehicles/masstransit/*.png", "vehicles/garbagetruck.png")
                      + _clip("transportation/redcar_marcelo_caiafa_.png", "transportation/bus_01.png",
                              "transportation/big_truck_01.png", "transportation/car_jamin_ellis_.png")),
    "train": SoundClass("a train passing", _home("BlendSwap-CC-BY/toyTrain.png") + _tux("vehicles/locomotive/cartoon/toy_train.png")
                        + _clip("transportation/tram.png", "transportation/tramway_lumen_design_stu_01.png",
                                "recreation/toys/kiddy_train_orlando_kara_.png")),
    "airplane": SoundClass("an airplane flying", _home("BlendSwap-CC-0/cartoon_biplane.png") + _tux("vehicles/flight/planes/*.png", "vehicles/flight/planes/cartoon/*.png")
                           + _clip("transportation/airplane.png", "shapes/airplane_nicu_buculei_01.png",
                                   "transportation/plane_in_the_sky_mo_01.png")),
    "helicopter": SoundClass("a helicopter flying", _tux("vehicles/flight/cartoon/eddieCopter.png")),
    "ship": SoundClass("a ship's horn", _home("BlendSwap-CC-BY/rowboat.png") + _tux("vehicles/ship/*.png", "vehicles/ship/cartoon/tugboat.png")
                       + _clip("transportation/boating/sailboat_illustration.png",
                               "transportation/vehicles/the_mad_little_ship_core_01.png")),
    "siren": SoundClass("a siren wailing", _tux("vehicles/emergency/*.png", "vehicles/emergency/cartoon/*.png")
                        + _clip("transportation/fire_engine_romus_01.png", "transportation/ambulans_romus_01.png")),
    "crash": SoundClass("a crash", _tux("vehicles/construction/dumper.png")
                        + _clip("transportation/old_car_lumen_design_st_r.png")),
    "explosion": SoundClass("an explosion", _tux("naturalforces/explosion.png", "naturalforces/fire.png")
                            + _clip("transportation/kaboom.png")),
    "fireworks": SoundClass("fireworks", _tux("seasonal/fireworks.png")
                            + _clip("recreation/holiday/fireworks_ganson*.png")),
    "gun": SoundClass("a gunshot", _clip("tools/weapons/9_mm_gun_01.png", "tools/weapons/ak47_01.png", "tools/weapons/blue_gun_alex_fernandez_01.png", "tools/weapons/m16_0*.png")),
    "rain": SoundClass("rain falling", _clip("signs_and_symbols/weather/rain.png", "signs_and_symbols/weather/cloudy0*.png",
                                             "signs_and_symbols/weather/drop_peterm_01.png", "tools/umbrella.png")),
    "thunder": SoundClass("thunder", _tux("naturalforces/lightningbolt.png")
                          + _clip("signs_and_symbols/weather/lightning_jon_phillips_*.png",
                                  "signs_and_symbols/weather/storm.png")),
    "wind": SoundClass("wind blowing", _tux("town/houses/cartoon/windmill.png")
                       + _clip("signs_and_symbols/weather/cloud.png", "signs_and_symbols/weather/w_cloud.png",
                               "signs_and_symbols/weather/snowstorm.png")),
    "water": SoundClass("water flowing", _home("BlendSwap-CC-BY/fountain.png", "BlendSwap-CC-0/shower.png") + _tux("town/cartoon/fountain.png", "town/cartoon/wishing_well.png")
                        + _clip("unsorted/landscape_near_the_river_01.png")),
    "applause": SoundClass("people applauding", _tux("symbols/shapes/hand.png")
                           + _clip("people/*hand_print*.png", "office/handshake_01.png")),
    "door": SoundClass("a door opening", _home("KatorLegaz/exterior-door-0*.png", "KatorLegaz/screen-door.png", "Scopia/door.png", "Scopia/double_door.png", "Scopia/glass_door.png", "Scopia/garage-door.png") + _tux("town/cartoon/gate.png")
),
    "footsteps": SoundClass("footsteps", _clip("recreation/sports/tennis_shoe*.png", "people/clothing/*shoe*.png",
                                               "shapes/*foot_print*.png")),
    "hammer": SoundClass("a hammer striking", _tux("household/tools/hammer.png", "household/tools/mallet_metal.png")
                         + _clip("tools/*hammer*.png", "tools/blacksmith_anvil_ganson.png")),
    "saw": SoundClass("a saw cutting", _tux("household/tools/saw.png")
                      + _clip("tools/saw_peterm_.png", "tools/utensile_sega_architetto_01.png")),
    "machine": SoundClass("machinery running", _home("BlendSwap-CC-BY/washing_machine.png", "Scopia/clothes_washing_machine.png", "BlendSwap-CC-0/tableFan.png") + _tux("household/tools/cementmixer.png",
                                                    "vehicles/construction/cartoon/*.png")
                          + _clip("buildings/factory_gabrielle_nowick_.png", "tools/drill_peterm_.png",
                                  "tools/natural_gas_pump_well_jo_01.png")),
    "bell": SoundClass("a bell ringing", _home("BlendSwap-CC-BY/clock.png", "Scopia/entry-bell-ring.png") + _tux("symbols/clockface.png")
                       + _clip("recreation/holiday/christmas/jingle_bells_01.png", "computer/icons/flat-theme/action/bell.png")),
    "heartbeat": SoundClass("a heart beating", _clip("shapes/heart_jon_phillips_01.png",
                                                     "recreation/holiday/valentines/heart.png")),
    "guitar": SoundClass("a guitar playing", _home("BlendSwap-CC-0/electricGuitar.png") + _tux("hobbies/music/string/guitar*.png")
                         + _clip("recreation/music/*guitar*.png")),
    "violin": SoundClass("a violin playing", _tux("hobbies/music/string/violin.png", "hobbies/music/string/cello.png")
                         + _clip("recreation/music/violin*.png", "recreation/music/cello*.png")),
    "drum": SoundClass("drums playing", _tux("hobbies/music/percussion/*.png")
                       + _clip("recreation/music/*drum*.png", "recreation/music/djambf_ganson.png")),
    "trumpet": SoundClass("a brass instrument playing", _tux("hobbies/music/brass/trumpet.png")
                          + _clip("recreation/music/trumpet*.png", "recreation/music/tenor_trombone_ganson.png",
                                  "recreation/music/french_horn_ganson.png")),
    "flute": SoundClass("a woodwind instrument playing", _tux("hobbies/music/wind/bassoon.png")
                        + _clip("recreation/music/flute_ganson.png", "recreation/music/oboe_ganson.png",
                                "recreation/music/saxophone_jarno_vasamaa_.png")),
    "piano": SoundClass("a piano playing", _home("BlendSwap-CC-0/pianoAQueue.png", "BlendSwap-CC-BY/piano.png") + _clip("recreation/music/piano_geraint_luff_01.png",
                                                 "recreation/music/piano_keys_jonathan_diet_01.png")),
}
