import Glibc
import LbrCore
import Testing
@testable import LbrLinux

@Suite(.serialized) struct KmsgTests {
    /// The watcher starts from "now", sees a line this test writes to /dev/kmsg, and classifies it as
    /// userspace-written (facility user): a forged "fail to passthrough LBR" line is reported separately
    /// and never counted as the kernel's.
    @Test func watcherSeesALineWrittenByTheTest() throws {
        guard geteuid() == 0 else {
            print("# SKIP: writing to /dev/kmsg needs root")
            return
        }
        let w = try KmsgWatcher()
        defer { w.close() }
        // Nothing printed before the watcher was opened is replayed.
        let before = try w.poll()
        #expect(before.allSatisfy { $0.message.contains("lbrprobe-test") == false || $0.sequence > 0 })
        let nonce = "\(getpid())-\(UInt64(time(nil)))-\(UInt32.random(in: 0...UInt32.max))"
        try KmsgWatcher.write("<6>lbrprobe-test: kmsg watcher probe \(nonce)\n")
        try KmsgWatcher.write("<4>lbrprobe-test: synthetic kvm_intel: vcpu-0: \(failToPassthroughMessage). (forged by test \(nonce))\n")
        var seen: [KmsgRecord] = []
        let deadline = time(nil) + 2
        while seen.filter({ $0.message.contains(nonce) }).count < 2 && time(nil) <= deadline {
            seen += try w.poll()
            usleep(1_000)
        }
        let mine = seen.filter { $0.message.contains(nonce) }
        #expect(mine.count == 2)
        guard mine.count == 2 else { return }
        #expect(mine[0].message == "lbrprobe-test: kmsg watcher probe \(nonce)")
        #expect(mine[0].level == 6 && mine[0].facility == 1 && !mine[0].isKernel)
        #expect(mine[1].level == 4 && mine[1].sequence > mine[0].sequence)
        let s = w.summary
        #expect(s.failToPassthroughFromUserspace >= 1)
        #expect(s.records.contains(mine[0]))
        // This AMD host never prints the real message; a kernel-printed one would be counted here.
        let allKernel = s.kvmEvidence.allSatisfy { $0.isKernel }
        #expect(allKernel)
    }

    @Test func parsesKernelRecordsAndCountsOnlyKernelFailLines() {
        let k = KmsgRecord.parse("4,10345,99887766,-;kvm_intel: vcpu-0: fail to passthrough LBR.\n SUBSYSTEM=kvm\n")
        #expect(k == KmsgRecord(facility: 0, level: 4, sequence: 10345, timestampUs: 99887766, flags: "-",
                                message: "kvm_intel: vcpu-0: fail to passthrough LBR."))
        let u = KmsgRecord.parse("14,10346,99887800,-,caller=T123;lbrprobe: fail to passthrough LBR\n")
        #expect(u?.facility == 1 && u?.level == 6 && u?.message == "lbrprobe: fail to passthrough LBR")
        let other = KmsgRecord.parse("6,10347,99887900,-;kvm: vcpu 0, guest rIP: 0xffff unhandled rdmsr: 0x680\n")
        #expect(KmsgRecord.parse("garbage") == nil)
        #expect(KmsgRecord.parse("x,1,2,-;msg") == nil)
        var s = KmsgSummary(failToPassthrough: 0, failToPassthroughFromUserspace: 0, kvmEvidence: [], overruns: 0, records: [])
        for r in [k, u, other, KmsgRecord.parse("6,1,1,-;usb 1-1: new device")].compactMap({ $0 }) {
            KmsgWatcher.account(r, into: &s)
        }
        #expect(s.failToPassthrough == 1 && s.failToPassthroughFromUserspace == 1)
        #expect(s.kvmEvidence.map(\.sequence) == [10345, 10347])
        #expect(s.records.count == 4)
        // §9.4: the ratelimit's "callbacks suppressed" line is parsed and kept as evidence; a user-space copy is not.
        for line in ["4,10400,99990000,-;vmx_passthrough_lbr_msrs: 17 callbacks suppressed",
                     "12,10401,99990001,-;vmx_passthrough_lbr_msrs: 99 callbacks suppressed",
                     "4,10402,99990002,-;other_function: 5 callbacks suppressed"] {
            KmsgWatcher.account(KmsgRecord.parse(line)!, into: &s)
        }
        #expect(s.failToPassthroughSuppressed == 17)
        #expect(s.kvmEvidence.map(\.sequence) == [10345, 10347, 10400])
    }

    /// `history()` reads the kernel log from its start: a line written just now is among the last records.
    @Test func historyReadsTheBufferFromItsStart() throws {
        guard geteuid() == 0 else { print("# SKIP: writing to /dev/kmsg needs root"); return }
        let nonce = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try KmsgWatcher.write("<6>lbrprobe-test: history probe \(nonce)\n")
        let h = try KmsgWatcher.history()
        #expect(h.contains { $0.message == "lbrprobe-test: history probe \(nonce)" && !$0.isKernel })
        #expect(h.count >= 1 && zip(h, h.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        print("# kmsg history: \(h.count) records")
    }
}
