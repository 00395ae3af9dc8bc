// Watchdog: a vCPU thread that cannot be kicked out of the kernel (here: frozen by the cgroup freezer,
// v2 `cgroup.freeze` or v1 `freezer.state`) must not hang the command past its timeout: the command is a
// timeout within timeout + 1 s, the VM is unusable (its thread abandoned), and close() returns at once.

import Foundation
import SystemPackage
import Testing
import LbrCore
@testable import LbrLinux
#if canImport(Glibc)
import Glibc
import LbrTestSupport
#endif

/// A freezer cgroup holding one thread; thawed and removed by `release()`.
struct ThreadFreezer {
    let dir: String
    let v2: Bool

    /// A fresh freezer cgroup, or nil (with why) when this host has none writable.
    static func make() -> (ThreadFreezer?, String) {
        let fm = FileManager.default
        let name = "lbrprobe-watchdog-\(getpid())"
        if fm.fileExists(atPath: "/sys/fs/cgroup/freezer/tasks") {
            let d = "/sys/fs/cgroup/freezer/\(name)"
            if mkdir(d, 0o755) == 0 || errno == EEXIST { return (ThreadFreezer(dir: d, v2: false), "") }
            return (nil, "cannot create \(d): \(String(cString: strerror(errno)))")
        }
        // cgroup v2: a threaded child of our own cgroup (thread granularity needs cgroup.type threaded).
        return (nil, "no cgroup v1 freezer hierarchy at /sys/fs/cgroup/freezer (v2 thread freezing needs a threaded subtree)")
    }

    func write(_ file: String, _ value: String) throws {
        try value.write(toFile: "\(dir)/\(file)", atomically: false, encoding: .utf8)
    }

    func freeze(tid: pid_t) throws {
        try write("tasks", "\(tid)\n")
        try write("freezer.state", "FROZEN\n")
        for _ in 0..<200 {
            if (try? String(contentsOfFile: "\(dir)/freezer.state", encoding: .utf8))?.hasPrefix("FROZEN") == true { return }
            usleep(10_000)
        }
        throw LinuxError(.ioError, "freezer.state did not reach FROZEN")
    }

    func release(tid: pid_t) {
        try? write("freezer.state", "THAWED\n")
        try? "\(tid)\n".write(toFile: "/sys/fs/cgroup/freezer/tasks", atomically: false, encoding: .utf8)
        for _ in 0..<100 where rmdir(dir) != 0 { usleep(10_000) }
    }
}

@Suite("vCPU watchdog (real KVM, cgroup freezer)", .serialized, .enabled(if: kvmAvailable, "needs read-write /dev/kvm"))
struct WatchdogTests {
    @Test func frozenVcpuThreadTimesOutWithinTimeoutPlusOneSecond() throws {
        let (f, why) = ThreadFreezer.make()
        guard let freezer = f else { print("SKIP: \(why)"); return }
        let vm = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        #expect(vm.run(.readTsc, timeout: .seconds(2)).status == .ok)
        let tid = vm.vcpuThreadID
        try freezer.freeze(tid: tid)
        defer { freezer.release(tid: tid) }
        let before = GuestVM.abandonedCount
        let t0 = monotonicNs()
        let r = vm.run(.branchPattern(count: 40), timeout: .seconds(1))
        let elapsed = Double(monotonicNs() - t0) / 1e9
        #expect(r.status == .timeout)
        #expect(elapsed < 2.0, "timeout 1 s reported after \(elapsed) s")
        #expect(elapsed >= 1.0)
        #expect(vm.abandonedReason?.contains("stuck in the kernel") == true, "\(vm.abandonedReason ?? "nil")")
        #expect(GuestVM.abandonedCount == before + 1)
        // The VM is unusable and closing it does not wait for the frozen thread.
        let c0 = monotonicNs()
        #expect(vm.run(.readTsc, timeout: .seconds(1)).status != .ok)
        vm.close()
        #expect(Double(monotonicNs() - c0) / 1e9 < 0.5)
        // A new VM on the same CPU works while the old thread is still frozen.
        let fresh = try GuestVM(options: GuestVMOptions(cpu: ThisHost.cpu))
        defer { fresh.close() }
        #expect(fresh.run(.readTsc, timeout: .seconds(2)).status == .ok)
    }
}
