from agentbench_tuning.cli.app import main

main()
