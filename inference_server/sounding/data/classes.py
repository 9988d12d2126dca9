"""The Foley-Mini classes: what each sounds like in a caption and where pictures of it come from.

Sources map their recordings onto these labels (each in its own module); the image pools serve recordings that have no
picture of their own (sound banks) and the composed scenes. Each picture entry is ``"root:glob"`` with a root of
:func:`sounding.data.images.image_roots` (``tuxpaint``, ``openclipart``, ``sweethome3d`` catalogue icons); Blender
renders of furniture models are added by :mod:`sounding.data.renders`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoundClass:
    #: Noun phrase used in captions ("a dog barking").
    caption: str
    #: ``"root:glob"`` entries, globs relative to the root.
    images: tuple[str, ...] = ()


CLASSES: dict[str, SoundClass] = {
    "dog": SoundClass("a dog barking", (
        "sweethome3d:BlendSwap-CC-BY/bulldog.png",
        "sweethome3d:Scopia/dog.png",
        "tuxpaint:animals/mammals/dogs/dog.png",
        "tuxpaint:animals/mammals/dogs/dingo.png",
        "openclipart:animals/mammals/dogs/*.png",
        "openclipart:animals/mammals/dog_0*.png",
    )),
    "bird": SoundClass("a bird singing", (
        "tuxpaint:animals/birds/blackbird.png",
        "tuxpaint:animals/birds/magpie.png",
        "tuxpaint:animals/birds/pigeon.png",
        "tuxpaint:animals/birds/rainbow-lorikeet.png",
        "tuxpaint:animals/birds/adelaide-rosella.png",
        "openclipart:animals/birds/crow_01.png",
        "openclipart:animals/birds/eagle_01.png",
        "openclipart:animals/birds/uccello_profilo_0*.png",
    )),
    "chicken": SoundClass("a chicken clucking", (
        "sweethome3d:BlendSwap-CC-0/chicken.png",
        "tuxpaint:animals/birds/chicken_profile.png",
        "tuxpaint:animals/birds/hen.png",
        "openclipart:animals/birds/hen_01.png",
        "openclipart:animals/birds/rooster_01.png",
        "openclipart:animals/birds/gallo_di_profilo_archite_01.png",
    )),
    "duck": SoundClass("a duck quacking", (
        "tuxpaint:animals/birds/duck.png",
        "tuxpaint:animals/birds/drake.png",
        "openclipart:animals/birds/duck_yellow*.png",
        "openclipart:animals/birds/jonathon_s_duck_01.png",
    )),
    "cow": SoundClass("a cow mooing", (
        "tuxpaint:animals/mammals/bovines/cow.png",
        "tuxpaint:animals/mammals/bovines/zebu.png",
        "tuxpaint:animals/mammals/bovines/yak.png",
        "openclipart:animals/mammals/vacca_pezzata_rossa_val_01.png",
        "openclipart:animals/mammals/bull_utrescu_.png",
    )),
    "sheep": SoundClass("a sheep bleating", (
        "tuxpaint:animals/mammals/bovines/sheep.png",
        "openclipart:animals/mammals/sheep-md-v0.1.png",
        "openclipart:animals/mammals/pecora_architetto_france_01.png",
    )),
    "goat": SoundClass("a goat bleating", (
        "tuxpaint:animals/mammals/bovines/goat.png",
        "openclipart:animals/mammals/goat_nicu_buculei_01.png",
        "openclipart:animals/mammals/stambecco_valdostano_arc_01.png",
    )),
    "horse": SoundClass("a horse neighing", (
        "sweethome3d:BlendSwap-CC-0/horse2.png",
        "sweethome3d:BlendSwap-CC-BY/horse.png",
        "tuxpaint:animals/mammals/equines/horse.png",
        "openclipart:animals/mammals/horses/*.png",
    )),
    "pig": SoundClass("a pig grunting", (
        "tuxpaint:animals/mammals/pig.png",
        "tuxpaint:animals/mammals/wildboar.png",
        "openclipart:animals/mammals/a_simple_pig_01.png",
        "openclipart:animals/mammals/pig_marcelo_caiafa1.png",
        "openclipart:animals/mammals/porcinet_01.png",
    )),
    "lion": SoundClass("a lion roaring", (
        "tuxpaint:animals/mammals/cats/lion-2.png",
        "tuxpaint:animals/mammals/cats/tiger_sumatran.png",
        "openclipart:animals/mammals/big_cats/*.png",
    )),
    "elephant": SoundClass("an elephant trumpeting", (
        "tuxpaint:animals/mammals/elephant.png",
        "openclipart:animals/mammals/elephant_01.png",
        "openclipart:animals/mammals/elefante0*.png",
    )),
    "monkey": SoundClass("a monkey chattering", (
        "tuxpaint:animals/mammals/apes/tamarin_emperor.png",
        "openclipart:animals/mammals/*monkey*.png",
        "openclipart:animals/sailor_monkey_nicu_bucul_01.png",
    )),
    "insect": SoundClass("an insect buzzing", (
        "tuxpaint:animals/insects/fly.png",
        "tuxpaint:animals/insects/hoverfly.png",
        "openclipart:animals/bugs/bee*.png",
        "openclipart:animals/bugs/flying_wasp*.png",
        "openclipart:animals/bugs/fly_01.png",
        "openclipart:animals/mosquito_peterm_01.png",
    )),
    "frog": SoundClass("a frog croaking", (
        "tuxpaint:animals/amphibians/frog-1.png",
        "openclipart:animals/rana0*.png",
        "openclipart:animals/red-eye_frog_mirko_maisc_01.png",
    )),
    "car": SoundClass("a car engine running", (
        "sweethome3d:Scopia/truck.png",
        "sweethome3d:Scopia/smart-car.png",
        "sweethome3d:Scopia/cityBus.png",
        "sweethome3d:BlendSwap-CC-BY/dafTruck.png",
        "sweethome3d:BlendSwap-CC-0/motorbike.png",
        "tuxpaint:vehicles/auto/*.png",
        "tuxpaint:vehicles/race/indycar.png",
        "tuxpaint:vehicles/masstransit/*.png",
        "tuxpaint:vehicles/garbagetruck.png",
        "openclipart:transportation/redcar_marcelo_caiafa_.png",
        "openclipart:transportation/bus_01.png",
        "openclipart:transportation/big_truck_01.png",
        "openclipart:transportation/car_jamin_ellis_.png",
    )),
    "train": SoundClass("a train passing", (
        "sweethome3d:BlendSwap-CC-BY/toyTrain.png",
        "tuxpaint:vehicles/locomotive/cartoon/toy_train.png",
        "openclipart:transportation/tram.png",
        "openclipart:transportation/tramway_lumen_design_stu_01.png",
        "openclipart:recreation/toys/kiddy_train_orlando_kara_.png",
    )),
    "airplane": SoundClass("an airplane flying", (
        "sweethome3d:BlendSwap-CC-0/cartoon_biplane.png",
        "tuxpaint:vehicles/flight/planes/*.png",
        "tuxpaint:vehicles/flight/planes/cartoon/*.png",
        "openclipart:transportation/airplane.png",
        "openclipart:shapes/airplane_nicu_buculei_01.png",
        "openclipart:transportation/plane_in_the_sky_mo_01.png",
    )),
    "helicopter": SoundClass("a helicopter flying", (
        "tuxpaint:vehicles/flight/cartoon/eddieCopter.png",
    )),
    "ship": SoundClass("a ship's horn", (
        "sweethome3d:BlendSwap-CC-BY/rowboat.png",
        "tuxpaint:vehicles/ship/*.png",
        "tuxpaint:vehicles/ship/cartoon/tugboat.png",
        "openclipart:transportation/boating/sailboat_illustration.png",
        "openclipart:transportation/vehicles/the_mad_little_ship_core_01.png",
    )),
    "siren": SoundClass("a siren wailing", (
        "tuxpaint:vehicles/emergency/*.png",
        "tuxpaint:vehicles/emergency/cartoon/*.png",
        "openclipart:transportation/fire_engine_romus_01.png",
        "openclipart:transportation/ambulans_romus_01.png",
    )),
    "crash": SoundClass("a crash", (
        "tuxpaint:vehicles/construction/dumper.png",
        "openclipart:transportation/old_car_lumen_design_st_r.png",
    )),
    "explosion": SoundClass("an explosion", (
        "tuxpaint:naturalforces/explosion.png",
        "tuxpaint:naturalforces/fire.png",
        "openclipart:transportation/kaboom.png",
    )),
    "fireworks": SoundClass("fireworks", (
        "tuxpaint:seasonal/fireworks.png",
        "openclipart:recreation/holiday/fireworks_ganson*.png",
    )),
    "gun": SoundClass("a gunshot", (
        "openclipart:tools/weapons/9_mm_gun_01.png",
        "openclipart:tools/weapons/ak47_01.png",
        "openclipart:tools/weapons/blue_gun_alex_fernandez_01.png",
        "openclipart:tools/weapons/m16_0*.png",
    )),
    "rain": SoundClass("rain falling", (
        "openclipart:signs_and_symbols/weather/rain.png",
        "openclipart:signs_and_symbols/weather/cloudy0*.png",
        "openclipart:signs_and_symbols/weather/drop_peterm_01.png",
        "openclipart:tools/umbrella.png",
    )),
    "thunder": SoundClass("thunder", (
        "tuxpaint:naturalforces/lightningbolt.png",
        "openclipart:signs_and_symbols/weather/lightning_jon_phillips_*.png",
        "openclipart:signs_and_symbols/weather/storm.png",
    )),
    "wind": SoundClass("wind blowing", (
        "tuxpaint:town/houses/cartoon/windmill.png",
        "openclipart:signs_and_symbols/weather/cloud.png",
        "openclipart:signs_and_symbols/weather/w_cloud.png",
        "openclipart:signs_and_symbols/weather/snowstorm.png",
    )),
    "water": SoundClass("water flowing", (
        "sweethome3d:BlendSwap-CC-BY/fountain.png",
        "sweethome3d:BlendSwap-CC-0/shower.png",
        "tuxpaint:town/cartoon/fountain.png",
        "tuxpaint:town/cartoon/wishing_well.png",
        "openclipart:unsorted/landscape_near_the_river_01.png",
    )),
    "applause": SoundClass("people applauding", (
        "tuxpaint:symbols/shapes/hand.png",
        "openclipart:people/*hand_print*.png",
        "openclipart:office/handshake_01.png",
    )),
    "door": SoundClass("a door opening", (
        "sweethome3d:KatorLegaz/exterior-door-0*.png",
        "sweethome3d:KatorLegaz/screen-door.png",
        "sweethome3d:Scopia/door.png",
        "sweethome3d:Scopia/double_door.png",
        "sweethome3d:Scopia/glass_door.png",
        "sweethome3d:Scopia/garage-door.png",
        "tuxpaint:town/cartoon/gate.png",
    )),
    "footsteps": SoundClass("footsteps", (
        "openclipart:recreation/sports/tennis_shoe*.png",
        "openclipart:people/clothing/*shoe*.png",
        "openclipart:shapes/*foot_print*.png",
    )),
    "hammer": SoundClass("a hammer striking", (
        "tuxpaint:household/tools/hammer.png",
        "tuxpaint:household/tools/mallet_metal.png",
        "openclipart:tools/*hammer*.png",
        "openclipart:tools/blacksmith_anvil_ganson.png",
    )),
    "saw": SoundClass("a saw cutting", (
        "tuxpaint:household/tools/saw.png",
        "openclipart:tools/saw_peterm_.png",
        "openclipart:tools/utensile_sega_architetto_01.png",
    )),
    "machine": SoundClass("machinery running", (
        "sweethome3d:BlendSwap-CC-BY/washing_machine.png",
        "sweethome3d:Scopia/clothes_washing_machine.png",
        "sweethome3d:BlendSwap-CC-0/tableFan.png",
        "tuxpaint:household/tools/cementmixer.png",
        "tuxpaint:vehicles/construction/cartoon/*.png",
        "openclipart:buildings/factory_gabrielle_nowick_.png",
        "openclipart:tools/drill_peterm_.png",
        "openclipart:tools/natural_gas_pump_well_jo_01.png",
    )),
    "bell": SoundClass("a bell ringing", (
        "sweethome3d:BlendSwap-CC-BY/clock.png",
        "sweethome3d:Scopia/entry-bell-ring.png",
        "tuxpaint:symbols/clockface.png",
        "openclipart:recreation/holiday/christmas/jingle_bells_01.png",
        "openclipart:computer/icons/flat-theme/action/bell.png",
    )),
    "heartbeat": SoundClass("a heart beating", (
        "openclipart:shapes/heart_jon_phillips_01.png",
        "openclipart:recreation/holiday/valentines/heart.png",
    )),
    "guitar": SoundClass("a guitar playing", (
        "sweethome3d:BlendSwap-CC-0/electricGuitar.png",
        "tuxpaint:hobbies/music/string/guitar*.png",
        "openclipart:recreation/music/*guitar*.png",
    )),
    "violin": SoundClass("a violin playing", (
        "tuxpaint:hobbies/music/string/violin.png",
        "tuxpaint:hobbies/music/string/cello.png",
        "openclipart:recreation/music/violin*.png",
        "openclipart:recreation/music/cello*.png",
    )),
    "drum": SoundClass("drums playing", (
        "tuxpaint:hobbies/music/percussion/*.png",
        "openclipart:recreation/music/*drum*.png",
        "openclipart:recreation/music/djambf_ganson.png",
    )),
    "trumpet": SoundClass("a brass instrument playing", (
        "tuxpaint:hobbies/music/brass/trumpet.png",
        "openclipart:recreation/music/trumpet*.png",
        "openclipart:recreation/music/tenor_trombone_ganson.png",
        "openclipart:recreation/music/french_horn_ganson.png",
    )),
    "flute": SoundClass("a woodwind instrument playing", (
        "tuxpaint:hobbies/music/wind/bassoon.png",
        "openclipart:recreation/music/flute_ganson.png",
        "openclipart:recreation/music/oboe_ganson.png",
        "openclipart:recreation/music/saxophone_jarno_vasamaa_.png",
    )),
    "piano": SoundClass("a piano playing", (
        "sweethome3d:BlendSwap-CC-0/pianoAQueue.png",
        "sweethome3d:BlendSwap-CC-BY/piano.png",
        "openclipart:recreation/music/piano_geraint_luff_01.png",
        "openclipart:recreation/music/piano_keys_jonathan_diet_01.png",
    )),
}


#: The ImageNet-1k categories (indices of the 1,000-way classifier that EfficientNet-Lite0's weights come with) that
#: picture an object making each class's sound; the object prior adds the classifier's probability of them to its
#: picture similarity (:mod:`sounding.model.object_prior`). Only categories whose object makes that sound: a sailing
#: yacht has no ship's horn and ImageNet's "plane" (726) is the carpenter's tool. Classes without one are left out.
IMAGENET_CATEGORIES: dict[str, tuple[int, ...]] = {
    "dog": tuple(range(151, 269)),  # Chihuahua .. Mexican hairless: the dog breeds
    "bird": (*range(10, 25), *range(80, 97), *range(127, 147)),  # finches .. owl, grouse .. toucan, storks .. albatross
    "chicken": (7, 8),  # cock, hen
    "duck": (97, 98, 99),  # drake, red-breasted merganser, goose
    "cow": (345, 346, 347),  # ox, water buffalo, bison
    "sheep": (348, 349),  # ram, bighorn
    "goat": (350,),  # ibex
    "horse": (339,),  # sorrel
    "pig": (341, 342, 343),  # hog, wild boar, warthog
    "lion": tuple(range(286, 294)),  # cougar .. cheetah: the big cats (Foley-Mini's tiger is a lion's roar)
    "elephant": (101, 385, 386),  # tusker, Indian elephant, African elephant
    "monkey": tuple(range(365, 383)),  # orangutan .. squirrel monkey: apes and monkeys
    "insect": (308, 309, 311, 312, 316),  # fly, bee, grasshopper, cricket, cicada
    "frog": (30, 31, 32),  # bullfrog, tree frog, tailed frog
    "car": (436, 468, 511, 573, 609, 627, 656, 661, 665, 670, 717, 751, 817),  # beach wagon, cab, convertible,
    # go-kart, jeep, limousine, minivan, Model T, moped, motor scooter, pickup, racer, sports car
    "train": (466, 547, 565, 705, 820, 829),  # bullet train, electric locomotive, freight car, passenger car,
    # steam locomotive, streetcar
    "airplane": (404, 895, 908),  # airliner, warplane, wing
    "ship": (403, 510, 554, 628),  # aircraft carrier, container ship, fireboat, liner
    "siren": (407, 555, 734),  # ambulance, fire engine, police van
    "gun": (413, 763, 764),  # assault rifle, revolver, rifle
    "water": (562,),  # fountain
    "door": (799,),  # sliding door
    "footsteps": (502, 514, 630, 770, 774),  # clog, cowboy boot, Loafer, running shoe, sandal
    "hammer": (587,),  # hammer
    "saw": (491,),  # chain saw
    "machine": (534, 621, 740, 786, 882, 897),  # dishwasher, lawn mower, power drill, sewing machine, vacuum, washer
    "bell": (442, 494),  # bell cote, chime
    "guitar": (402, 420, 546),  # acoustic guitar, banjo, electric guitar
    "violin": (486, 889),  # cello, violin
    "drum": (541, 542, 822),  # drum, drumstick, steel drum
    "trumpet": (513, 566, 875),  # cornet, French horn, trombone
    "flute": (432, 558, 683, 684, 699, 776),  # bassoon, flute, oboe, ocarina, panpipe, sax
    "piano": (579, 881),  # grand piano, upright
}

#: Pictures added after the splits were fixed (issue 4), shown with train recordings only: each becomes one more
#: single-object train row (:func:`sounding.data.build.picture_variants`), so no earlier row, scene or split moves and
#: no val or test picture gains a near copy in train. Chosen by eye from the image packages for what makes the sound,
#: none of them a val or test picture or from the same drawing series as one.
TRAIN_ONLY_IMAGES: dict[str, tuple[str, ...]] = {
    "airplane": (
        "openclipart:transportation/vehicles/aircraft_jarno_vasamaa1.png",
        "openclipart:transportation/vehicles/aircraft_jarno_vasamaa3.png",
        "openclipart:transportation/vehicles/military_airplane_mo_01.png",
    ),
    "bell": (
        "openclipart:signs_and_symbols/clocks/alarm_clock_mike_powers_.png",
    ),
    "bird": (
        "openclipart:animals/birds/owl_on_branch_ganson.png",
        "openclipart:animals/birds/gull_marcelo_staudt_01.png",
        "openclipart:animals/birds/uccello_bianco_e_nero_ar_01.png",
        "openclipart:animals/birds/gufo_civetta_architetto__01.png",
        "openclipart:animals/birds/cormorant-md.png",
        "openclipart:animals/birds/puffin-md.png",
        "tuxpaint:animals/birds/crowned_crane.png",
    ),
    "car": (
        "openclipart:transportation/vehicles/skoda_car_alejandro_teja_.png",
        "openclipart:transportation/vehicles/1989_chevrolet_celebrit_01.png",
        "openclipart:transportation/vehicles/hummer_01.png",
        "openclipart:transportation/vehicles/4wd.png",
        "openclipart:transportation/dodge_neon_green_ganson.png",
        "openclipart:transportation/toyota_land_cruiser_ganson.png",
        "sweethome3d:KatorLegaz/concept-sedan-01v1.png",
    ),
    "chicken": (
        "tuxpaint:seasonal/easter/chick.png",
    ),
    "cow": (
        "openclipart:unsorted/mucca.png",
        "openclipart:animals/bison_leif_lodahl_01.png",
    ),
    "dog": (
        "openclipart:animals/mammals/dog_on_leash_gerald_g._01.png",
    ),
    "door": (
        "sweethome3d:Scopia/double_door_2.png",
        "sweethome3d:Scopia/glassDoor2.png",
    ),
    "drum": (
        "openclipart:recreation/music/derbouk_jurgen_01.png",
    ),
    "duck": (
        "openclipart:unsorted/Anatra.png",
    ),
    "elephant": (
        "openclipart:animals/mammals/elephant_symbol_ganson.png",
        "openclipart:unsorted/elefante_in_corsa.png",
        "openclipart:unsorted/elefantone.png",
    ),
    "explosion": (
        "openclipart:tools/weapons/bomb_01.png",
    ),
    "footsteps": (
        "openclipart:people/clothing/hiking_boot_jarno_vasama_.png",
        "sweethome3d:Scopia/woman_shoes.png",
    ),
    "frog": (
        "openclipart:animals/rana_architetto_francesc_01.png",
    ),
    "hammer": (
        "openclipart:unsorted/Martellare.png",
        "openclipart:tools/wooden_mallot_benji_park_.png",
    ),
    "insect": (
        "openclipart:animals/bugs/abeille_tanguy_jacq_01.png",
        "openclipart:animals/bugs/zanzara_architetto_franc_01.png",
        "openclipart:animals/bugs/cavalletta_architetto_fr_01.png",
        "openclipart:animals/bugs/moschito_architetto_fran_01.png",
    ),
    "machine": (
        "openclipart:tools/vacuum_cleaner_mariusz_k_01.png",
        "openclipart:tools/blue_vacuum_cleaner_jaim_01.png",
        "sweethome3d:Scopia/coffee_machine.png",
        "sweethome3d:Scopia/dryer_machine.png",
    ),
    "monkey": (
        "openclipart:animals/mammals/contour_orangutan.png",
        "openclipart:animals/mammals/contour_baboon.png",
    ),
    "piano": (
        "sweethome3d:KatorLegaz/MIDI-keyboard.png",
    ),
    "rain": (
        "sweethome3d:BlendSwap-CC-0/umbrella.png",
    ),
    "saw": (
        "openclipart:unsorted/motosega.png",
        "openclipart:unsorted/sega_per_legno.png",
        "openclipart:plants/trees/bowsaw_benji_park_01.png",
    ),
    "sheep": (
        "openclipart:animals/mammals/dall_sheep_ram_ganson.png",
    ),
    "ship": (
        "openclipart:transportation/boating/boat_jarno_vasamaa1.png",
        "openclipart:transportation/vehicles/trawler_01.png",
    ),
    "siren": (
        "openclipart:people/fire_engine_mimooh_01.png",
        "openclipart:transportation/vehicles/ambulans_romus_01.png",
    ),
    "thunder": (
        "openclipart:computer/icons/lightning_icon_benji_par_01.png",
    ),
    "water": (
        "sweethome3d:Scopia/garden-faucet.png",
        "sweethome3d:BlendSwap-CC-BY/kitchenSink.png",
    ),
}
