import CLbrShim
import Glibc
import LbrCore
import Synchronization
import Testing
@testable import LbrLinux
import LbrTestSupport

@Suite(.serialized, .enabled(if: PerfAccess.full, "needs root or kernel.perf_event_paranoid <= 0 (CPU-wide and kernel-mode perf events)"))
struct ContextSwitchTests {
    /// Two threads pinned to one CPU yield to each other: every sched_yield() of thread A with B
    /// runnable switches A out, so A's PERF_COUNT_SW_CONTEXT_SWITCHES grows by about the number of
    /// yields. The same yields with no partner on the CPU switch (almost) never.
    @Test func countsForcedSchedYieldSwitches() throws {
        let cpu = Int32(try #require(ThisHost.usableCpus.last))
        let yields = 400
        let withPartner = try Self.run(cpu: cpu, yields: yields, partner: true)
        // "Alone" means no other runnable task on the CPU; other suites running in parallel may put one there
        // for a while, so the quietest of a few tries counts.
        var alone = try Self.run(cpu: cpu, yields: yields, partner: false)
        for _ in 0..<4 where alone >= withPartner / 2 { alone = min(alone, try Self.run(cpu: cpu, yields: yields, partner: false)) }
        print("# context switches of a thread yielding \(yields)× on cpu \(cpu): with partner \(withPartner), alone \(alone)")
        #expect(withPartner >= UInt64(yields) / 2, "only \(withPartner) switches for \(yields) contended yields")
        #expect(withPartner <= UInt64(yields) * 2 + 50)
        #expect(alone < withPartner / 2, "yields alone switched \(alone) times vs \(withPartner) with a partner")
    }

    static func run(cpu: Int32, yields: Int, partner: Bool) throws -> UInt64 {
        let tidA = Atomic<Int32>(0)
        let go = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
        let partnerReady = Atomic<Bool>(!partner)
        let a = PerfTestThread {
            _ = lbr_pin_self_to_cpu(cpu)
            tidA.store(lbr_gettid(), ordering: .releasing)
            while !go.load(ordering: .acquiring) { usleep(100) }
            for _ in 0..<yields { sched_yield() }
            done.store(true, ordering: .releasing)
        }
        var b: PerfTestThread?
        if partner {
            b = PerfTestThread {
                _ = lbr_pin_self_to_cpu(cpu)
                partnerReady.store(true, ordering: .releasing)
                while !done.load(ordering: .acquiring) { sched_yield() }
            }
        }
        while tidA.load(ordering: .acquiring) == 0 || !partnerReady.load(ordering: .acquiring) { usleep(100) }
        let observer = try ContextSwitchObserver(tid: tidA.load(ordering: .acquiring))
        defer { observer.close() }
        let before = try #require(try observer.count())
        go.store(true, ordering: .releasing)
        a.join()
        b?.join()
        let after = try #require(try observer.count())
        return after - before
    }

    @Test func observerOnCallingThreadIsActiveWhileRunning() throws {
        let o = try ContextSwitchObserver(tid: 0)
        defer { o.close() }
        let r0 = try #require(try o.reading())
        perfSpin(ns: 2_000_000)
        let r1 = try #require(try o.reading())
        #expect(PerfEvent.classify(previous: r0, current: r1).state == .active)
        try o.reset()
        #expect(try o.count() ?? 99 <= 2)
    }
}
