func benchVmm() { print("vmm: not yet") }
