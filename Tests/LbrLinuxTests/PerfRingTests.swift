import CLbrShim
import Glibc
import LbrCore
import Testing
@testable import LbrLinux

/// Real rings on this host: a sampling task-clock event on the test thread.
@Suite(.enabled(if: PerfAccess.full, "needs root or kernel.perf_event_paranoid <= 0 (CPU-wide and kernel-mode perf events)"))
struct PerfRingTests {
    static func taskClockSampler(periodNs: UInt64) -> PerfAttr {
        var a = PerfAttr(type: .software, config: PerfSwConfig.taskClock)
        a.samplePeriod = periodNs
        a.sampleType = PerfSample.ip | PerfSample.tid | PerfSample.time | PerfSample.id | PerfSample.cpu | PerfSample.period
        return a
    }

    /// One data page (4 KiB) and 100 µs samples of 56 bytes each: the kernel's head
    /// laps the data area several times, so records are copied across the wrap point for real.
    @Test func realRingWrapsAroundAndParses() throws {
        let e = try PerfEvent.open(attr: Self.taskClockSampler(periodNs: 100_000), pid: 0, cpu: -1)
        defer { e.close() }
        let ring = try PerfRing(event: e, dataPages: 1)
        defer { ring.close() }
        let id = try e.eventId()
        let tid = UInt32(lbr_gettid()), pid = UInt32(getpid())
        var samples: [PerfSampleRecord] = []
        var bytesSeen = 0
        let start = monotonicNs()
        // Until the head has lapped the 4 KiB data area 3 times (task-clock only ticks while this thread
        // runs, so on a loaded machine this can take longer than the nominal ~35 ms); 2 s at most.
        while bytesSeen < 3 * ring.dataSize && monotonicNs() - start < 2_000_000_000 {
            perfSpin(ns: 2_000_000)
            let bytes = try ring.readAvailable()
            bytesSeen += bytes.count
            for r in try PerfRecordParser.parse(bytes, layout: ring.layout).records {
                if case let .sample(s) = r { samples.append(s) }
            }
        }
        #expect(bytesSeen > 2 * ring.dataSize, "only \(bytesSeen) bytes: the ring did not wrap")
        #expect(samples.count * 56 == bytesSeen, "every byte was a 56-byte sample record")
        #expect(samples.allSatisfy { $0.tid == tid && $0.pid == pid && $0.id == id && $0.period == 100_000 })
        let times = samples.compactMap(\.time)
        #expect(times == times.sorted())
        #expect(samples.allSatisfy { ($0.cpu ?? 9999) < 1024 && ($0.ip ?? 0) != 0 })
        print("# real ring: \(samples.count) samples, \(bytesSeen) bytes through a \(ring.dataSize)-byte ring")
    }

    /// §4.2: with `use_clockid`/CLOCK_MONOTONIC (what the host LBR contenders request) the kernel stamps samples
    /// with `ktime_get_mono_fast_ns`, so they fall inside windows taken with `monotonicNs()`; without it the stamps
    /// are `perf_clock()` and the hw backend's per-command windows would keep the wrong samples.
    @Test func clockidMonotonicSamplesFallInsideMonotonicWindows() throws {
        var a = Self.taskClockSampler(periodNs: 200_000)
        a.clockid = PerfClockId.monotonic
        let e = try PerfEvent.open(attr: a, pid: 0, cpu: -1)
        defer { e.close() }
        let ring = try PerfRing(event: e, dataPages: 64)
        defer { ring.close() }
        let tid = UInt32(lbr_gettid())
        perfSpinCpu(ns: 2_000_000)                    // before the window (~10 samples of this thread's CPU time)
        let t0 = monotonicNs()
        perfSpinCpu(ns: 8_000_000)                    // the "guest command" (~40)
        let t1 = monotonicNs()
        perfSpinCpu(ns: 2_000_000)                    // after the window (~10)
        let records = try ring.drain()
        let samples = records.compactMap { r -> PerfSampleRecord? in if case let .sample(s) = r { return s } else { return nil } }
        let window = GuestCommandWindow(tid: tid, startNs: t0, endNs: t1)
        let inside = samples.filter { window.contains($0) }
        let before = samples.filter { ($0.time ?? 0) < t0 }, after = samples.filter { ($0.time ?? 0) > t1 }
        #expect(inside.count >= 10, "only \(inside.count) of \(samples.count) samples inside the window")
        #expect(!before.isEmpty && !after.isEmpty, "samples before/after the window: \(before.count)/\(after.count)")
        #expect(inside.count + before.count + after.count == samples.count)
        // Another TID's window keeps nothing.
        #expect(!samples.contains { GuestCommandWindow(tid: tid &+ 1, startNs: t0, endNs: t1).contains($0) })
        print("# clockid monotonic: \(inside.count) inside, \(before.count) before, \(after.count) after")
    }

    /// Never drained, a 1-page ring overflows; after draining, the kernel's next output first emits
    /// PERF_RECORD_LOST with the number of dropped samples.
    @Test func realRingReportsLostRecords() throws {
        let e = try PerfEvent.open(attr: Self.taskClockSampler(periodNs: 20_000), pid: 0, cpu: -1)
        defer { e.close() }
        let ring = try PerfRing(event: e, dataPages: 1)
        defer { ring.close() }
        perfSpin(ns: 30_000_000)          // ~1500 samples into a ring that holds ~85
        var records = try ring.drain()    // frees the ring
        perfSpin(ns: 5_000_000)
        records += try ring.drain()
        let lost = records.reduce(UInt64(0)) { if case let .lost(_, n) = $1 { return $0 + n } else { return $0 } }
        let nSamples = records.filter { if case .sample = $0 { return true } else { return false } }.count
        #expect(lost > 0, "no PERF_RECORD_LOST after overflowing the ring (\(nSamples) samples)")
        print("# overflowed ring: \(nSamples) samples kept, \(lost) reported lost")
    }

    @Test func ringRejectsBadPageCountsAndClosesIdempotently() throws {
        let e = try PerfEvent.open(attr: Self.taskClockSampler(periodNs: 1_000_000), pid: 0, cpu: -1)
        defer { e.close() }
        #expect(throws: LinuxError.self) { try PerfRing(event: e, dataPages: 3) }
        let ring = try PerfRing(event: e, dataPages: 2)
        ring.close()
        ring.close()
        #expect(ring.isClosed)
        #expect(throws: LinuxError.self) { try ring.readAvailable() }
    }
}
