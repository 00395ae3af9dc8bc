// LbrReport: placeholder until its issue lands.
