import CLbrShim
import Glibc
import LbrCore
import Testing
@testable import LbrLinux

/// The live half of the hw observation path that runs without a hardware PMU: a real sampling event's ring
/// drained through `HostContenderSet.drain(windows:)`, and the scan for other KVM VMs (docs/reference.md §9).
@Suite(.enabled(if: PerfAccess.full, "needs root or kernel.perf_event_paranoid <= 0 (CPU-wide and kernel-mode perf events)"))
struct HwSamplingLiveTests {
    /// A software task-clock sampler with the sample layout of the host LBR contenders minus the branch stack,
    /// stamped on CLOCK_MONOTONIC like them (§4.2).
    static func sampler() -> PerfAttr {
        var a = PerfAttr(type: .software, config: PerfSwConfig.taskClock)
        a.samplePeriod = 200_000
        a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.cpu
        a.clockid = PerfClockId.monotonic
        return a
    }

    @Test func drainKeepsOnlyTheWindowAndCarriesPeriodAndCounts() throws {
        let e = try PerfEvent.open(attr: Self.sampler(), pid: 0, cpu: -1)
        let ring = try PerfRing(event: e, dataPages: 64)
        let set = HostContenderSet(contender: .pinnedLbr, cpu: -1, pid: 0, events: [e], rings: [ring])
        defer { set.close() }
        let tid = UInt32(lbr_gettid())
        perfSpinCpu(ns: 2_000_000)                    // ~10 samples of this thread's CPU time before the window
        let t0 = monotonicNs()
        perfSpinCpu(ns: 8_000_000)                    // ~40 inside
        let window = GuestCommandWindow(tid: tid, startNs: t0, endNs: monotonicNs())
        perfSpinCpu(ns: 2_000_000)                    // ~10 after
        let s = try set.drain(windows: [window], guestRange: nil)
        #expect(s.samplePeriod == 200_000)
        #expect(s.samples >= 8, "\(s)")
        #expect(s.filteredOut >= 2, "\(s)")                          // before and after the window
        #expect(s.withBranches == 0 && s.emptyBranches == s.samples)  // no branch stack requested here
        // The next drain with no window keeps nothing and counts what arrived as filtered out.
        perfSpinCpu(ns: 1_000_000)
        let rest = try set.drain(windows: [], guestRange: nil)
        #expect(rest.samples == 0 && rest.filteredOut >= 1)
        print("# drain: kept \(s.samples), filtered \(s.filteredOut); later \(rest.filteredOut) filtered")
    }

    @Test(.enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "needs /dev/kvm"))
    func vmScanSeesAKvmVmFdAndExcludesTheCaller() throws {
        let kvm = try Kvm()
        let vm = try Vm(kvm: kvm)
        defer { withExtendedLifetime(vm) {} }   // the VM fd closes on deinit
        let me = getpid()
        let t0 = monotonicNs()
        let all = KvmVmScan.owners(excludingPid: -1)
        print("# KVM VM scan of /proc: \((monotonicNs() - t0) / 1000) us, \(all.count) owner(s)")
        let mine = try #require(all.first { $0.pid == me }, "own VM fd not found in /proc/\(me)/fd")
        #expect(mine.vms >= 1)
        #expect(mine.description.contains("pid \(me)"))
        #expect(!KvmVmScan.owners().contains { $0.pid == me })
        // A fake /proc and debugfs: links and <pid>-<fd> entries are what the kernel shows.
        let dir = "/tmp/lbrprobe-vmscan-\(me)"
        defer { _ = system("rm -rf \(dir)") }
        #expect(system("mkdir -p \(dir)/proc/4711/fd \(dir)/proc/4712/fd \(dir)/kvm/5000-12 \(dir)/kvm/junk && "
                       + "ln -s anon_inode:kvm-vm \(dir)/proc/4711/fd/7 && ln -s anon_inode:kvm-vcpu:0 \(dir)/proc/4711/fd/8 && "
                       + "ln -s anon_inode:kvm-vcpu:1 \(dir)/proc/4711/fd/9 && ln -s /dev/null \(dir)/proc/4712/fd/0 && "
                       + "echo qemu-kvm > \(dir)/proc/4711/comm && mkdir -p \(dir)/proc/4713/fd && "
                       + "ln -s 'anon_inode:[perf_event]' \(dir)/proc/4713/fd/3 && ln -s 'anon_inode:[perf_event]' \(dir)/proc/4713/fd/4 && "
                       + "echo perf > \(dir)/proc/4713/comm") == 0)
        let fake = KvmVmScan.owners(excludingPid: 1, proc: "\(dir)/proc", debugfsKvm: "\(dir)/kvm")
        #expect(fake == [KvmVmOwner(pid: 4711, command: "qemu-kvm", vms: 1, vcpus: 2),
                         KvmVmOwner(pid: 5000, command: nil, vms: 0, vcpus: 0)])
        // The same walk sees perf event holders (CpuNeighbours and the hw evidence use it); owners() leaves them out.
        let all2 = KvmVmScan.scan(excludingPid: 1, proc: "\(dir)/proc", debugfsKvm: "\(dir)/kvm")
        #expect(all2.contains(KvmVmOwner(pid: 4713, command: "perf", vms: 0, vcpus: 0, perfEvents: 2)))
    }
}
