func benchScenarios() { print("scenarios: not yet") }
