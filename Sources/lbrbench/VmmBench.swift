// VMM benchmark: the same guest exit loop (the payload's EXIT_LOOP command: `out` to the doorbell
// port N times, one userspace exit each) through the Swift VMM (GuestVM, its vCPU thread and exit
// dispatch) and through the C reference VMM (CModules/CRefVmm), alternating, several rounds.
// Prints exits/s for both and the median Swift/C ratio (target ≥ 0.98).
// Usage: lbrbench vmm [rounds] [exits-per-round] [cpu]
import CRefVmm
import LbrCore
import LbrLinux
#if canImport(Glibc)
import Glibc
#endif

private func say(_ s: String) {
    let line = s + "\n"
    _ = line.withCString { write(1, $0, strlen($0)) }
}

func benchVmm() {
    let args = Array(CommandLine.arguments.dropFirst(2))
    let rounds = args.count > 0 ? max(Int(args[0]) ?? 7, 1) : 7
    let exits = args.count > 1 ? max(Int(args[1]) ?? 20_000, 1) : 20_000
    let cpu = args.count > 2 ? Int(args[2]) ?? 0 : 0
    guard access("/dev/kvm", R_OK | W_OK) == 0 else { say("vmm: SKIP (no read-write /dev/kvm)"); return }
    let vm: GuestVM
    do { vm = try GuestVM(options: GuestVMOptions(cpu: cpu)) } catch {
        say("vmm: SKIP (GuestVM: \(error))"); return
    }
    defer { vm.close() }
    let boot = GuestVM.bootImage(request: GuestMailbox.Request(opcode: .exitLoop, arg0: UInt64(exits)))
    say("vmm: exit loop, \(exits) exits/round, \(rounds) rounds, cpu \(cpu), guest RAM \(vm.memoryPlacement)")
    var ratios: [Double] = []
    var swiftRates: [Double] = []
    var cRates: [Double] = []
    for round in 1...rounds {
        // Alternate the order so neither VMM systematically runs first (load from other work drifts).
        let runC = {
            boot.image.withUnsafeBytes { img in
            boot.sregs.withUnsafeBytes { sr in
                boot.regs.withUnsafeBytes { rg in
                    lbr_refvmm_run_exit_loop(Int32(cpu), img.baseAddress, img.count, boot.memoryBytes, sr.baseAddress,
                                             rg.baseAddress, GuestMailbox.doorbellPort, GuestMailbox.doorbellReady,
                                             GuestMailbox.doorbellPing, GuestMailbox.doorbellDone)
                }
            }
        }
        }
        let c: lbr_refvmm_result
        let s: ExitLoopResult
        if round % 2 == 0 {
            c = runC(); s = vm.runExitLoop(count: exits, timeout: .seconds(60))
        } else {
            s = vm.runExitLoop(count: exits, timeout: .seconds(60)); c = runC()
        }
        guard s.status == .ok, s.exits == UInt64(exits) else { say("vmm: Swift run failed: \(s.status) exits \(s.exits)"); return }
        guard c.err == 0, c.exits == UInt64(exits) else {
            say("vmm: C reference failed at \(String(cString: c.step)): errno \(c.err), exit \(c.last_exit), exits \(c.exits)")
            return
        }
        let sr = Double(s.exits) / (Double(s.elapsedNs) / 1e9)
        let cr = Double(c.exits) / (Double(c.elapsed_ns) / 1e9)
        swiftRates.append(sr); cRates.append(cr); ratios.append(sr / cr)
        say("vmm: round \(round): swift \(Int(sr)) exits/s, c \(Int(cr)) exits/s, ratio \(fmt(sr / cr))")
    }
    say("vmm: median swift \(Int(median(swiftRates))) exits/s, c \(Int(median(cRates))) exits/s, "
        + "median ratio swift/c \(fmt(median(ratios))) (target >= 0.98)")
}

private func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

private func fmt(_ x: Double) -> String {
    let r = (x * 1000).rounded() / 1000
    return "\(r)"
}
