import CLbrShim
import Glibc
import Synchronization
import Testing
@testable import LbrLinux

/// The calling thread's mask, read and narrowed on a thread of the test's own (so no other test's thread is moved).
struct CpuAffinityTests {
    struct Seen: Sendable {
        var initial: [Int] = [], ranOn: Int32 = -1, pinRc: Int32 = -1, pinned: [Int] = [], ranPinned: Int32 = -1
        var setRc: Int32 = -1, restored: [Int] = [], badPinRc: Int32 = 0, afterBadPin: [Int] = []
    }

    @Test func pinNarrowsTheMaskSetRestoresItAndABadCpuChangesNothing() throws {
        let seen = Mutex(Seen())
        let t = PerfTestThread {
            var s = Seen()
            s.initial = CpuAffinity.allowed()
            s.ranOn = lbr_current_cpu()
            let target = s.initial.last ?? 0
            s.pinRc = CpuAffinity.pin(to: target)
            s.pinned = CpuAffinity.allowed()
            s.ranPinned = lbr_current_cpu()
            s.setRc = CpuAffinity.set(s.initial)
            s.restored = CpuAffinity.allowed()
            s.badPinRc = CpuAffinity.pin(to: CpuAffinity.setSize)   // outside the set: EINVAL, mask unchanged
            s.afterBadPin = CpuAffinity.allowed()
            seen.withLock { $0 = s }
        }
        t.join()
        let s = seen.withLock { $0 }
        #expect(!s.initial.isEmpty && s.initial == s.initial.sorted())
        #expect(s.initial.contains(Int(s.ranOn)), "ran on CPU \(s.ranOn), outside its mask \(s.initial)")
        #expect(s.pinRc == 0 && s.pinned == [s.initial.last!] && Int(s.ranPinned) == s.initial.last!)
        #expect(s.setRc == 0 && s.restored == s.initial)
        #expect(s.badPinRc == EINVAL && s.afterBadPin == s.initial)
    }
}
