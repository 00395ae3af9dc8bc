// lbrbench: benchmarks land with their issues.
print("lbrbench: no benchmarks yet")
