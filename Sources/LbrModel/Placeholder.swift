// LbrModel: placeholder until its issue lands.
