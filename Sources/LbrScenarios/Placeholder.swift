// LbrScenarios: placeholder until its issue lands.
