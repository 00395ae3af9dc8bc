// lbrbench: benchmarks that print figures and ratios (not timed tests).
// Usage: lbrbench [vmm|model|scenarios|compare|all] | lbrbench writers N FORMAT
import LbrCore
#if canImport(Glibc)
import Glibc
#endif

let which = CommandLine.arguments.dropFirst().first ?? "all"
switch which {
case "vmm": benchVmm()
case "model": benchModel()
case "scenarios": benchScenarios()
case "compare": benchCompare()
case "writers": benchWriterMemory()
case "all": benchVmm(); benchModel(); benchScenarios(); benchCompare()
default:
    let usage = "usage: lbrbench [vmm|model|scenarios|compare|all] | lbrbench writers N FORMAT\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(LbrExitCode.usage.rawValue)
}
