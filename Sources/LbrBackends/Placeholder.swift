// LbrBackends: placeholder until its issue lands.
