import CLbrShim
import Glibc
import LbrCore
import SystemPackage
import Testing
@testable import LbrLinux

/// Tracepoints on this host: tracefs found (mounted by us if absent and root), a syscall tracepoint
/// triggered deterministically by the test thread, counted and sampled with RAW, decoded by its format.
@Suite(.serialized) struct TracepointTests {
    /// __NR_getppid on x86_64 (arch/x86/entry/syscalls/syscall_64.tbl); glibc does not cache getppid.
    static let nrGetppid = 110

    static func tracefs() throws -> Tracefs? {
        do { return try Tracefs.locate(mountIfAbsent: true) } catch {
            if geteuid() != 0 { print("# SKIP: tracefs unavailable without root: \(error)"); return nil }
            throw error
        }
    }

    @Test func locatesTracefsAndReadsIdAndFormat() throws {
        guard let t = try Self.tracefs() else { return }
        #expect(access(t.root + "/events", F_OK) == 0)
        let id = try t.id(system: "syscalls", name: "sys_enter_getppid")
        let f = try t.format(system: "syscalls", name: "sys_enter_getppid")
        #expect(f.id == id && f.name == "sys_enter_getppid")
        #expect(f.field("__syscall_nr") != nil && f.field("common_pid") != nil)
        #expect(!t.exists(system: "nosuch", name: "event"))
        if t.exists(system: "kvm", name: "kvm_msr") {
            let k = try t.format(system: "kvm", name: "kvm_msr")
            let d = try KvmMsrDecoder(format: k)       // the real format has write, ecx, data, exception
            #expect(d.format.id == (try t.id(system: "kvm", name: "kvm_msr")))
        }
    }

    /// 37 getppid() calls on this thread → count 37, 37 RAW samples whose fields decode to
    /// __syscall_nr = SYS_getppid, common_pid = our tid, common_type = the tracepoint id.
    @Test func syscallTracepointCountsAndDecodesRaw() throws {
        guard let t = try Self.tracefs() else { return }
        let tp = try TracepointCounter(tracefs: t, system: "syscalls", name: "sys_enter_getppid", pid: 0, cpu: -1,
                                       sampling: true, ringPages: 4)
        defer { tp.close() }
        let n = 37
        for _ in 0..<n { _ = getppid() }
        #expect(try tp.count() == UInt64(n))
        let (samples, lost) = try tp.drainSamples()
        #expect(lost == 0)
        #expect(samples.count == n)
        let tid = lbr_gettid()
        for s in samples {
            let raw = try #require(s.raw)
            #expect(raw.count >= tp.format.minimumPayloadSize)
            #expect(try tp.format.value("__syscall_nr", in: raw) == .signed(Int64(Self.nrGetppid)))
            #expect(try tp.format.value("common_pid", in: raw) == .signed(Int64(tid)))
            #expect(try tp.format.uint("common_type", in: raw) == tp.format.id & 0xffff)
            #expect(s.tid == UInt32(tid))
        }
        // A second drain is empty; the count keeps going.
        #expect(try tp.drainSamples().samples.isEmpty)
        _ = getppid()
        #expect(try tp.count() == UInt64(n + 1))
    }

    /// kvm:kvm_msr opens on this thread with the real format (the guest-driven count test lives with
    /// the guest payload); with no guest running here, its count stays 0 and the ring stays empty.
    @Test func kvmMsrTracerOpensWithRealFormat() throws {
        guard let t = try Self.tracefs() else { return }
        guard t.exists(system: "kvm", name: "kvm_msr") else {
            print("# SKIP: kvm:kvm_msr tracepoint absent (kvm module not loaded)")
            return
        }
        let k = try KvmMsrTracer(tracefs: t, pid: 0)
        defer { k.close() }
        #expect(try k.count() == 0)
        #expect(try k.drain().accesses.isEmpty)
    }

    @Test func missingTracepointIsATypedError() throws {
        guard let t = try Self.tracefs() else { return }
        do {
            _ = try TracepointCounter(tracefs: t, system: "nosuch", name: "event", pid: 0, cpu: -1)
            Issue.record("opened a tracepoint that does not exist")
        } catch {
            guard case let .tracefs(e) = error else { Issue.record("\(error)"); return }
            #expect(e.errno == .noSuchFileOrDirectory)
        }
    }
}
