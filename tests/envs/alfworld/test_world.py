"""Every command type of the simulator against the ALFWorld 2.1.1 text forms (PROTOCOLS.md), exact strings."""

from __future__ import annotations

from agentbench_tuning.envs.alfworld.world import NOTHING, goal_progress, listing


def test_intro_lists_classes_ascending_numbers_descending(kitchen):
    # Classes alphabetical, instances descending, article always "a", Oxford ", and" before the last.
    assert kitchen.intro() == (
        "-= Welcome to TextWorld, ALFRED! =-\n\n"
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, a cabinet 1, "
        "a countertop 1, a fridge 1, a microwave 1, a sidetable 1, and a sinkbasin 1.\n\n"
        "Your task is to: put a hot apple in fridge."
    )


def test_listing_forms():
    assert listing([]) == "nothing"
    assert listing(["apple 1"]) == "a apple 1"
    assert listing(["apple 1", "apple 2"]) == "a apple 2, and a apple 1"
    assert (
        listing(["bread 1", "apple 1", "apple 10", "apple 2"])
        == "a apple 10, a apple 2, a apple 1, and a bread 1"
    )


def test_go_open_close_feedback(kitchen):
    assert kitchen.step("go to cabinet 1") == "You arrive at loc 7. The cabinet 1 is closed."
    assert (
        kitchen.step("open cabinet 1")
        == "You open the cabinet 1. The cabinet 1 is open. In it, you see a mug 1."
    )
    assert kitchen.step("examine cabinet 1") == "The cabinet 1 is open. In it, you see a mug 1."
    assert kitchen.step("close cabinet 1") == "You close the cabinet 1."
    assert kitchen.step("go to countertop 1") == (
        "You arrive at loc 5. On the countertop 1, you see a apple 2, a apple 1, and a bread 1."
    )
    assert kitchen.step("go to cabinet 2") == "You arrive at loc 3. The cabinet 2 is closed."
    assert (
        kitchen.step("open cabinet 2")
        == "You open the cabinet 2. The cabinet 2 is open. In it, you see nothing."
    )


def test_take_put_inventory_one_object_in_hand(kitchen):
    assert kitchen.step("inventory") == "You are not carrying anything."
    kitchen.step("go to countertop 1")
    assert kitchen.step("take apple 1 from countertop 1") == "You pick up the apple 1 from the countertop 1."
    assert kitchen.step("inventory") == "You are carrying: a apple 1."
    # A second object cannot be taken while one is held.
    assert "take apple 2 from countertop 1" not in kitchen.admissible_commands()
    assert kitchen.step("take apple 2 from countertop 1") == NOTHING
    assert kitchen.step("put apple 1 in/on countertop 1") == "You put the apple 1 in/on the countertop 1."


def test_heat_cool_clean_and_examine_object(kitchen):
    kitchen.step("go to countertop 1")
    kitchen.step("take apple 1 from countertop 1")
    assert kitchen.step("examine apple 1") == "There's nothing special about apple 1."
    kitchen.step("go to sinkbasin 1")
    assert kitchen.step("clean apple 1 with sinkbasin 1") == "You clean the apple 1 using the sinkbasin 1."
    kitchen.step("go to microwave 1")
    assert kitchen.step("heat apple 1 with microwave 1") == "You heat the apple 1 using the microwave 1."
    assert kitchen.step("examine apple 1") == "This is a hot and clean apple 1."
    kitchen.step("go to fridge 1")
    assert kitchen.step("cool apple 1 with fridge 1") == "You cool the apple 1 using the fridge 1."
    assert kitchen.step("examine apple 1") == "This is a cool and clean apple 1."  # cooling undoes heat


def test_use_lamp_and_look(kitchen):
    assert kitchen.step("look") == (
        "You are in the middle of a room. Looking quickly around you, you see a cabinet 2, a cabinet 1, "
        "a countertop 1, a fridge 1, a microwave 1, a sidetable 1, and a sinkbasin 1."
    )
    kitchen.step("go to sidetable 1")
    assert kitchen.step("look") == "You are facing the sidetable 1. Next to it, you see nothing."
    assert kitchen.step("use desklamp 1") == "You turn on the desklamp 1."
    assert kitchen.step("use desklamp 1") == "You turn on the desklamp 1."  # the engine's wording, every time
    assert kitchen.step("toggle desklamp 1") == NOTHING  # there is no toggle verb


def test_inadmissible_leaves_state_unchanged(kitchen):
    before = kitchen.admissible_commands()
    assert kitchen.step("open cabinet 1") == NOTHING  # not standing at it
    assert kitchen.step("go to the moon") == NOTHING
    assert kitchen.admissible_commands() == before


def test_admissible_commands_at_open_cabinet_holding_apple(kitchen):
    kitchen.step("go to countertop 1")
    kitchen.step("take apple 1 from countertop 1")
    kitchen.step("go to microwave 1")
    kitchen.step("open microwave 1")
    # Sorted like TextWorld; "go to" every receptacle except the one the agent stands at (as the engine).
    assert kitchen.admissible_commands() == [
        "close microwave 1",
        "examine apple 1",
        "examine microwave 1",
        "go to cabinet 1",
        "go to cabinet 2",
        "go to countertop 1",
        "go to fridge 1",
        "go to sidetable 1",
        "go to sinkbasin 1",
        "heat apple 1 with microwave 1",
        "inventory",
        "look",
        "put apple 1 in/on microwave 1",
    ]


def test_admissible_commands_at_countertop_empty_handed(kitchen):
    kitchen.step("go to countertop 1")
    # Objects lying there can be taken but not examined (the engine offers "examine" only for what is held).
    assert kitchen.admissible_commands() == [
        "examine countertop 1",
        "go to cabinet 1",
        "go to cabinet 2",
        "go to fridge 1",
        "go to microwave 1",
        "go to sidetable 1",
        "go to sinkbasin 1",
        "inventory",
        "look",
        "take apple 1 from countertop 1",
        "take apple 2 from countertop 1",
        "take bread 1 from countertop 1",
    ]
    assert kitchen.step("go to countertop 1") == NOTHING


def test_goal_and_progress(kitchen):
    # Heat task: hot apple in hand = 1 of 2 sub-goals; hot apple in the fridge = won.
    kitchen.step("go to countertop 1")
    kitchen.step("take apple 2 from countertop 1")
    assert goal_progress(kitchen) == 0
    kitchen.step("go to microwave 1")
    kitchen.step("heat apple 2 with microwave 1")
    assert goal_progress(kitchen) == 1 and not kitchen.won()
    kitchen.step("go to fridge 1")
    kitchen.step("open fridge 1")
    kitchen.step("put apple 2 in/on fridge 1")
    assert kitchen.won()


def test_clone_is_independent(kitchen):
    kitchen.admissible_commands()  # builds the command table (closures over the original)
    copy = kitchen.clone()
    copy.step("go to cabinet 1")
    copy.step("open cabinet 1")
    assert kitchen.location is None and not kitchen.receptacles["cabinet 1"].opened


def test_two_digit_numbers_sort_as_the_engine_sorts():
    # Listings compare numbers as numbers (cabinet 10 before cabinet 9); admissible commands are Python-sorted
    # strings, so "go to cabinet 10" comes before "go to cabinet 2" (as in ALFWorld 2.1.1 transcripts).
    from agentbench_tuning.envs.alfworld.world import PICK, Goal, Receptacle, World

    receptacles = {
        f"cabinet {i}": Receptacle(f"cabinet {i}", "cabinet", loc=i, openable=True) for i in range(1, 11)
    }
    world = World(
        receptacles=receptacles, items={}, goal=Goal(PICK, "cup", "cabinet", "put a cup in cabinet.")
    )
    assert "you see a cabinet 10, a cabinet 9, a cabinet 8," in world.intro()
    assert world.admissible_commands()[:3] == ["go to cabinet 1", "go to cabinet 10", "go to cabinet 2"]
