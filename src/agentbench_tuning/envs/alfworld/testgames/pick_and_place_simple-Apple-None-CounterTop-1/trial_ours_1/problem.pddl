;; A tiny kitchen written for agentbench-tuning's tests (not from ALFRED): an apple on the dining
;; table, a mug in a closed cabinet, a fridge; the goal is an apple on the countertop.
(define (problem ours_kitchen_1)
  (:domain alfred)
  (:objects
    agent1 - agent
    loc_bar_0_bar_0_bar_0_bar_0 - location
    loc_bar_1_bar_0_bar_0_bar_0 - location
    loc_bar_2_bar_0_bar_0_bar_0 - location
    loc_bar_3_bar_0_bar_0_bar_0 - location
    loc_bar_4_bar_0_bar_0_bar_0 - location
    CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_00_dot_00 - receptacle
    DiningTable_bar__plus_02_dot_00_bar__plus_00_dot_75_bar__plus_00_dot_00 - receptacle
    Cabinet_bar__plus_03_dot_00_bar__plus_01_dot_50_bar__plus_00_dot_00 - receptacle
    Fridge_bar__plus_04_dot_00_bar__plus_00_dot_00_bar__plus_00_dot_00 - receptacle
    Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10 - object
    Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10 - object
    AppleType - otype
    MugType - otype
    KnifeType - otype
    ButterKnifeType - otype
    CounterTopType - rtype
    DiningTableType - rtype
    CabinetType - rtype
    FridgeType - rtype
    SinkBasinType - rtype
    MicrowaveType - rtype
  )
  (:init
    (= (total-cost) 0)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_0)
    (receptacleAtLocation CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_00_dot_00 loc_bar_1_bar_0_bar_0_bar_0)
    (receptacleAtLocation DiningTable_bar__plus_02_dot_00_bar__plus_00_dot_75_bar__plus_00_dot_00 loc_bar_2_bar_0_bar_0_bar_0)
    (receptacleAtLocation Cabinet_bar__plus_03_dot_00_bar__plus_01_dot_50_bar__plus_00_dot_00 loc_bar_3_bar_0_bar_0_bar_0)
    (receptacleAtLocation Fridge_bar__plus_04_dot_00_bar__plus_00_dot_00_bar__plus_00_dot_00 loc_bar_4_bar_0_bar_0_bar_0)
    (receptacleType CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_00_dot_00 CounterTopType)
    (receptacleType DiningTable_bar__plus_02_dot_00_bar__plus_00_dot_75_bar__plus_00_dot_00 DiningTableType)
    (receptacleType Cabinet_bar__plus_03_dot_00_bar__plus_01_dot_50_bar__plus_00_dot_00 CabinetType)
    (receptacleType Fridge_bar__plus_04_dot_00_bar__plus_00_dot_00_bar__plus_00_dot_00 FridgeType)
    (openable Cabinet_bar__plus_03_dot_00_bar__plus_01_dot_50_bar__plus_00_dot_00)
    (openable Fridge_bar__plus_04_dot_00_bar__plus_00_dot_00_bar__plus_00_dot_00)
    (objectType Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10 AppleType)
    (objectType Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10 MugType)
    (pickupable Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10)
    (pickupable Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10)
    (heatable Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10)
    (coolable Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10)
    (cleanable Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10)
    (inReceptacle Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10 DiningTable_bar__plus_02_dot_00_bar__plus_00_dot_75_bar__plus_00_dot_00)
    (objectAtLocation Apple_bar__plus_02_dot_10_bar__plus_00_dot_80_bar__plus_00_dot_10 loc_bar_2_bar_0_bar_0_bar_0)
    (inReceptacle Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10 Cabinet_bar__plus_03_dot_00_bar__plus_01_dot_50_bar__plus_00_dot_00)
    (objectAtLocation Mug_bar__plus_03_dot_10_bar__plus_01_dot_55_bar__plus_00_dot_10 loc_bar_3_bar_0_bar_0_bar_0)
    (canContain CounterTopType AppleType)
    (canContain CounterTopType MugType)
    (canContain DiningTableType AppleType)
    (canContain DiningTableType MugType)
    (canContain CabinetType MugType)
    (canContain FridgeType AppleType)
    (canContain FridgeType MugType)
  )
  (:goal
    (and
      (exists (?r - receptacle)
        (exists (?o - object)
          (and (inReceptacle ?o ?r) (objectType ?o AppleType) (receptacleType ?r CounterTopType))))))
)
