import CLbrShim
import Glibc
import LbrCore
import Synchronization
import Testing
@testable import LbrLinux
import LbrTestSupport

/// Shared result box for closures run synchronously on another thread (tests only).
final class IntegrationBox<T: Sendable>: Sendable {
    private let slot = Mutex<T?>(nil)
    init() {}
    var value: T? {
        get { slot.withLock { $0 } }
        set { slot.withLock { $0 = newValue } }
    }
}

/// The two timing modes on the real guest: a host action while the vCPU thread is inside KVM_RUN
/// (`whileRunning`), and preemption of the vCPU thread inside KVM_RUN by a pinned `CpuHog`.
/// "Inside KVM_RUN" is shown with the kernel's own callchains of the vCPU thread, named from /proc/kallsyms.
@Suite("Integration: host actions while the vCPU runs, preemption inside KVM_RUN (real KVM)", .serialized,
       .enabled(if: kvmAvailable && geteuid() == 0, "needs /dev/kvm and root (kernel callchains, kallsyms)"))
struct IntegrationTimingTests {
    /// Functions a vCPU thread inside the KVM_RUN ioctl has on its kernel stack.
    static let kvmRunFrames: Set<String> = ["kvm_arch_vcpu_ioctl_run", "kvm_vcpu_ioctl"]

    static func vcpuCpu() -> Int { ThisHost.usableCpus.last ?? 0 }

    /// While the closure runs: the vCPU thread's kernel callchains (cpu-clock samples taken only during the
    /// closure) go through kvm_arch_vcpu_ioctl_run, its vCPU exit counter advances, /proc shows it runnable,
    /// and the guest command is still unfinished when the closure returns (guest TSC).
    @Test func whileRunningClosureRunsWhileTheVcpuThreadIsInsideKvmRun() throws {
        let syms = try #require(KernelSymbols.load(), "/proc/kallsyms unreadable")
        let vm = try GuestVM(options: GuestVMOptions(cpu: Self.vcpuCpu()))
        defer { vm.close() }
        let tid = vm.vcpuThreadID
        // Guest TSC − host TSC (host-initiated KVM_GET_MSRS(IA32_TSC) between two RDTSCs; tightest of 5).
        var best: (UInt64, Int64) = (.max, 0)
        for _ in 0..<5 {
            let h0 = hostTimestampCounter()
            let g = try #require(try vm.getMsrs([MSR.tsc]).first)
            let h1 = hostTimestampCounter()
            if h1 &- h0 < best.0 { best = (h1 &- h0, Int64(bitPattern: g &- (h0 &+ (h1 &- h0) / 2))) }
        }
        struct Seen { var samples: [PerfSampleRecord] = []; var exits0: UInt64 = 0; var exits1: UInt64 = 0
                      var state = ""; var syscall = ""; var hostTscStart: UInt64 = 0; var hostTscEnd: UInt64 = 0
                      var error: String? }
        let box = IntegrationBox<Seen>()
        let r = vm.run(.spin(iterations: 60_000), timeout: .seconds(30)) {
            var s = Seen()
            s.hostTscStart = hostTimestampCounter()
            do {
                s.exits0 = vm.exitCounters()?.exits ?? 0
                let sampler = try CallchainSampler(tid: tid, config: PerfSwConfig.cpuClock, period: 100_000)
                // Sample until the vCPU thread has run a little (the machine may be shared): ≥ 10 samples or 1 s.
                let t0 = monotonicNs()
                while monotonicNs() - t0 < 1_000_000_000 {
                    perfSpin(ns: 2_000_000)
                    s.samples += try sampler.samples()
                    if s.samples.count >= 10 { break }
                }
                s.state = readText("/proc/self/task/\(tid)/stat").flatMap { $0.split(separator: ")").last?.split(separator: " ").first.map(String.init) } ?? "?"
                s.syscall = readText("/proc/self/task/\(tid)/syscall") ?? "?"
                s.exits1 = vm.exitCounters()?.exits ?? 0
                sampler.close()
            } catch { s.error = "\(error)" }
            s.hostTscEnd = hostTimestampCounter()
            box.value = s
        }
        #expect(r.status == .ok)
        let s = try #require(box.value)
        #expect(s.error == nil)
        let inRun = s.samples.filter { !Self.kvmRunFrames.isDisjoint(with: syms.names($0.callchain ?? [])) }
        print("# whileRunning: \(s.samples.count) cpu-clock samples of the vCPU thread during the closure, \(inRun.count) inside kvm_arch_vcpu_ioctl_run; state \(s.state); syscall '\(s.syscall.split(separator: "\n").first ?? "")'; exits \(s.exits0)→\(s.exits1)")
        if let chain = inRun.first?.callchain { print("# e.g. " + syms.names(chain).prefix(12).joined(separator: " < ")) }
        #expect(!s.samples.isEmpty, "the vCPU thread never ran during the closure")
        // Nearly all: a sample taken on an interrupt stack may not unwind back into the ioctl.
        #expect(inRun.count * 10 >= s.samples.count * 9, "\(s.samples.count - inRun.count) of \(s.samples.count) samples outside KVM_RUN")
        for o in s.samples where Self.kvmRunFrames.isDisjoint(with: syms.names(o.callchain ?? [])) {
            print("# outside KVM_RUN: " + syms.names(o.callchain ?? []).prefix(8).joined(separator: " < "))
        }
        #expect(s.state == "R")
        // /proc/<tid>/syscall says "running" for a runnable thread; if it ever catches the thread blocked it must be in ioctl(KVM_RUN).
        if !s.syscall.hasPrefix("running") {
            let f = s.syscall.split(separator: " ")
            #expect(f.first == "16" && f.count > 2 && UInt64(f[2].dropFirst(2), radix: 16) == kvmRunRequest, "\(s.syscall)")
        }
        #expect(s.exits1 > s.exits0, "the guest made no progress while the closure ran")
        // On the guest's TSC line the closure lies inside the command [tscBegin, tscEnd] (GuestVM waits until
        // the guest has started the command before calling it).
        let gStart = UInt64(bitPattern: Int64(bitPattern: s.hostTscStart) &+ best.1)
        let gEnd = UInt64(bitPattern: Int64(bitPattern: s.hostTscEnd) &+ best.1)
        print("# closure at guest TSC \(gStart)…\(gEnd), command \(r.tscBegin)…\(r.tscEnd) (offset error ≤ \(best.0 / 2) cycles)")
        #expect(gStart + best.0 / 2 >= r.tscBegin && gEnd <= r.tscEnd + best.0 / 2)
    }

    /// A hog pinned to the vCPU's CPU, created parked before the command and woken while the vCPU thread is
    /// inside KVM_RUN, preempts the vCPU thread: involuntary switches > 0, and `sched:sched_switch` on the
    /// vCPU thread shows switch-outs in state TASK_RUNNING (preempted) with the hog as the next task and a
    /// kernel callchain inside KVM_RUN — so kvm_sched_out() ran with the vCPU loaded (§1.6, §8.4). Both
    /// policies: SCHED_FIFO (what the backends use when permitted; its bounded busy phase is waited for
    /// inside KVM_RUN) and the vCPU thread's own scheduling (spinning until stopped after the command). A
    /// control run without the hog shows no switch to a hog (the machine is shared, so its other
    /// preemptions are only printed).
    /// With one CPU for the whole test process the other suites' threads compete with the vCPU thread and the
    /// hog on it, so whether the hog catches the vCPU thread inside KVM_RUN is left to chance: two CPUs needed.
    @Test(.enabled(if: ThisHost.usableCpus.count >= 2, "needs 2 CPUs this process may run on"), arguments: [true, false])
    func cpuHogPreemptsTheVcpuThreadInsideKvmRun(fifo: Bool) throws {
        let syms = try #require(KernelSymbols.load(), "/proc/kallsyms unreadable")
        let cpu = Self.vcpuCpu()
        let vm = try GuestVM(options: GuestVMOptions(cpu: cpu))
        defer { vm.close() }
        let tid = vm.vcpuThreadID
        let observer = try ContextSwitchObserver(tid: tid)
        defer { observer.close() }

        struct Measured { var invol: UInt64; var perf: UInt64; var byHogInRun: Int; var preemptedInRun: Int
                          var switches: Int; var report: CpuHog.Report? }
        func measure(hog: Bool, spin iterations: Int = 20_000) throws -> Measured {
            let sampler = try SchedSwitchSampler(tid: tid)
            defer { sampler.close() }
            let h = hog ? try CpuHog(cpu: cpu, policy: fifo ? .fifoWhenPermitted(otherwiseLike: tid) : .like(tid),
                                     busy: fifo ? .preemption : .untilStopped, maxDuration: .seconds(20)) : nil
            if let h, !fifo { #expect(h.scheduling == (try ThreadScheduling.of(tid: tid))) }
            if let h, fifo { #expect(h.fifo == (geteuid() == 0), "root may use SCHED_FIFO: \(h.scheduling)") }
            let s0 = try ThreadContextSwitches.read(tid: tid)
            let c0 = try #require(try observer.count())
            let r = vm.run(.spin(iterations: iterations), timeout: .seconds(20)) {
                h?.trigger(preempting: tid)
                if fifo { h?.finish() }
            }
            let s1 = try ThreadContextSwitches.read(tid: tid)
            let c1 = try #require(try observer.count())
            let report = h?.stop()
            #expect(r.status == .ok)
            let sw = try sampler.switches().filter { $0.prevPid == Int64(tid) }
            let inRun = sw.filter { $0.preempted && !Self.kvmRunFrames.isDisjoint(with: syms.names($0.callchain)) }
            let byHog = inRun.filter { h != nil && $0.nextPid == Int64(h!.tid) }
            if let e = byHog.first { print("# preempted by hog \(e.nextComm)/\(e.nextPid) at " + syms.names(e.callchain).prefix(10).joined(separator: " < ")) }
            return Measured(invol: (s1 - s0).nonvoluntary, perf: c1 - c0, byHogInRun: byHog.count,
                            preemptedInRun: inRun.count, switches: sw.count, report: report)
        }
        // The machine (and this test process's other suites) may be busy on the same CPU, and a hog of the vCPU
        // thread's own policy then waits its turn among them: a few attempts at most, each guest command longer.
        var with = try measure(hog: true)
        for iterations in [80_000, 320_000] where with.byHogInRun == 0 { with = try measure(hog: true, spin: iterations) }
        let without = try measure(hog: false)
        print("# preemption by CpuHog (\(fifo ? "FIFO when permitted" : "like the vCPU thread")) on CPU \(cpu): vCPU thread \(with.invol) involuntary switches (perf context-switches \(with.perf)); sched_switch: \(with.switches) switch-outs, \(with.preemptedInRun) preempted inside KVM_RUN, \(with.byHogInRun) of them by the hog; hog \(with.report.map { "\($0)" } ?? "?"); without hog: \(without.invol) involuntary, \(without.preemptedInRun) preempted inside KVM_RUN")
        #expect(with.invol > 0)
        #expect(with.perf > 0)
        #expect(with.byHogInRun > 0, "the hog never preempted the vCPU thread inside KVM_RUN")
        #expect(with.report?.ranOn == Int32(cpu) && with.report?.pinned == true)
        #expect(with.report?.triggered == true)
        #expect(with.report?.hitMaxDuration == false)
        if fifo, with.report?.fifo == true {
            #expect((with.report?.busyNs ?? 0) >= 300_000)
            #expect(with.report?.targetPreempted == true, "the hog's own check of the vCPU thread's involuntary switches")
        }
        #expect(without.byHogInRun == 0)
    }

    @Test func cpuHogParksTriggersStopsJoinsAndLeavesNothing() throws {
        // Parked: no spinning until triggered; stop() while parked joins and reports "never triggered".
        let parked = try CpuHog(cpu: Self.vcpuCpu(), maxDuration: .milliseconds(50))
        #expect(access("/proc/self/task/\(parked.tid)", F_OK) == 0)
        usleep(20_000)
        let p = parked.stop()
        #expect(!p.triggered && p.spins == 0 && p.busyNs == 0 && p.problem == "never triggered")
        #expect(!parked.trigger())         // single use
        #expect(parked.finish() == p)       // idempotent
        #expect(threadIsGone(parked.tid))

        // Triggered, untilStopped: the busy phase ends by itself after maxDuration (finish() waits for that).
        let h = try CpuHog(cpu: Self.vcpuCpu(), maxDuration: .milliseconds(50))
        #expect(h.trigger())
        #expect(!h.trigger())
        let r = h.finish()
        #expect(r.triggered && r.hitMaxDuration)
        #expect(r.busyNs >= 50_000_000 && r.spins > 0 && r.pinned)
        #expect(h.stop() == r)             // idempotent
        #expect(threadIsGone(h.tid))

        // A bounded busy phase: finish() waits for it, it is not cut short and does not hit maxDuration.
        let b = try CpuHog(cpu: Self.vcpuCpu(), busy: .init(fifo: .milliseconds(5), other: .milliseconds(5)),
                           maxDuration: .seconds(5))
        b.trigger()
        let f = b.finish()
        #expect(f.triggered && !f.hitMaxDuration && f.busyNs >= 5_000_000 && f.busyNs < 1_000_000_000)
        #expect(b.stop() == f)

        // prepare runs on the hog thread before init returns.
        let seen = IntegrationBox<pid_t>()
        let w = try CpuHog(cpu: Self.vcpuCpu(), prepare: { seen.value = lbr_gettid() })
        #expect(seen.value == w.tid)
        w.stop()

        #expect(throws: LinuxError.self) { _ = try CpuHog(cpu: 4000) }
        #expect(ThreadContextSwitches.parse("voluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t 3\n")
                == ThreadContextSwitches(voluntary: 7, nonvoluntary: 3))
        #expect(ThreadContextSwitches.parse("voluntary_ctxt_switches:\tx\n") == nil)
        let me = try ThreadContextSwitches.read(tid: lbr_gettid())
        #expect(me.voluntary + me.nonvoluntary > 0)
        #expect(throws: LinuxError.self) { _ = try ThreadContextSwitches.read(tid: 0x7fff_fff0) }
    }
}
