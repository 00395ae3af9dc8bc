// TscClock: the host TSC rate, measured once per process, so a guest can busy-wait for a given number of
// microseconds (GuestCommand.spinFor → mailbox SPIN_FOR, arg1 = ticks per µs).
//
// Source: a measurement against CLOCK_MONOTONIC over ~15 ms. The kernel's own calibrated rate (tsc_khz,
// "tsc: Refined TSC clocksource calibration" in dmesg) is not exported to user space in a stable form: there
// is no sysfs file for it upstream, CPUID leaf 0x15/0x16 is Intel-only and often zero or absent in VMs, and
// KVM_GET_TSC_KHZ needs a vCPU fd. The measurement needs no privilege and works on every x86 host; its
// error is bounded by the width of the RDTSC/clock_gettime brackets (reported as `uncertaintyPpm`, a few
// ppm here) — far below what a spin of a few milliseconds needs.
//
// Guest TSC = host TSC + KVM's TSC offset, at the same rate: GuestVM never calls KVM_SET_TSC_KHZ, so KVM
// keeps the vCPU's virtual_tsc_khz at the host's tsc_khz and uses no TSC scaling. The guest therefore
// converts microseconds with the host's rate.

import CLbrShim
#if canImport(Glibc)
import Glibc
#endif

/// The host time-stamp counter's rate, calibrated once per process (thread-safe lazy initialisation).
public enum TscClock {
    /// One calibration.
    public struct Calibration: Hashable, Sendable, CustomStringConvertible {
        /// TSC ticks per microsecond, rounded to the nearest integer (≥ 1).
        public var ticksPerMicrosecond: UInt64
        /// TSC ticks per second as measured (before rounding).
        public var ticksPerSecond: Double
        /// CLOCK_MONOTONIC nanoseconds the measurement spanned.
        public var windowNs: UInt64
        /// Bound of the measurement error from the RDTSC brackets around the two clock reads, in ppm.
        public var uncertaintyPpm: Double
        /// `constant_tsc` and `nonstop_tsc` in /proc/cpuinfo (nil: unreadable). Without them the TSC rate
        /// may change with P-/C-states and the calibration is only indicative.
        public var invariant: Bool?

        public var description: String {
            let mhz = (ticksPerSecond / 1e6 * 10).rounded() / 10
            let inv = invariant.map { $0 ? "invariant" : "NOT invariant (no constant_tsc/nonstop_tsc)" } ?? "invariance unknown"
            return "TSC \(mhz) MHz (\(ticksPerMicrosecond) ticks/us) measured against CLOCK_MONOTONIC over \(windowNs / 1_000_000) ms, ±\(Int(uncertaintyPpm.rounded(.up))) ppm, \(inv)"
        }
    }

    /// The process-wide calibration (measured on first use: ~15 ms, sleeping).
    public static let calibration: Calibration = measure()

    /// Host (= guest) TSC ticks per microsecond.
    public static var ticksPerMicrosecond: UInt64 { calibration.ticksPerMicrosecond }

    /// Measures the TSC rate against CLOCK_MONOTONIC over about `windowNs` (sleeping in between).
    /// Each end point is the clock read with the narrowest RDTSC bracket of a few tries, so an
    /// interrupt or preemption between the reads only costs precision in the uncertainty, not a bias.
    public static func measure(windowNs: UInt64 = 15_000_000) -> Calibration {
        let a = bracketedSample()
        var req = timespec(tv_sec: Int(windowNs / 1_000_000_000), tv_nsec: Int(windowNs % 1_000_000_000))
        var rem = timespec()
        while nanosleep(&req, &rem) != 0, errno == EINTR { req = rem }
        let b = bracketedSample()
        let dNs = b.ns &- a.ns
        let dTsc = b.tsc &- a.tsc
        let perSecond = dNs > 0 ? Double(dTsc) * 1e9 / Double(dNs) : 0
        let perUs = max(1, UInt64((perSecond / 1e6).rounded()))
        let ppm = dTsc > 0 ? Double(a.width + b.width) / Double(dTsc) * 1e6 : .infinity
        return Calibration(ticksPerMicrosecond: perUs, ticksPerSecond: perSecond, windowNs: dNs,
                           uncertaintyPpm: ppm, invariant: invariantFlags())
    }

    /// (TSC at the middle of the bracket, CLOCK_MONOTONIC ns, bracket width in ticks), best of 7.
    private static func bracketedSample() -> (tsc: UInt64, ns: UInt64, width: UInt64) {
        var best: (tsc: UInt64, ns: UInt64, width: UInt64) = (0, 0, .max)
        for _ in 0..<7 {
            var ts = timespec()
            let t0 = lbr_rdtsc()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            let t1 = lbr_rdtsc()
            let w = t1 &- t0
            if w < best.width {
                best = (t0 &+ w / 2, UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec), w)
            }
        }
        return best
    }

    /// Whether /proc/cpuinfo lists both `constant_tsc` and `nonstop_tsc` (first CPU's flags).
    private static func invariantFlags() -> Bool? {
        guard let text = Sysfs().raw("/proc/cpuinfo", limit: 4 << 20).value else { return nil }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(line.split(separator: " "))
        return flags.contains("constant_tsc") && flags.contains("nonstop_tsc")
    }
}
