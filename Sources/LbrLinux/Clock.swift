// The clocks lbrprobe reads: CLOCK_MONOTONIC for durations, deadlines and observation times (the one
// monotonic clock of the whole tool, so deadlines computed in one module compare with times taken in
// another), CLOCK_REALTIME for report timestamps, and the host TSC to place host actions on a guest's
// TSC line.

import CLbrShim
#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC in nanoseconds: the clock of runner deadlines (`Backends.runner`), of every
/// `TimedObservation` a backend emits, and of guest-command timeouts.
@inline(__always)
public func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since the Unix epoch (report timestamps), nil if the clock is unreadable.
public func wallClockUnixNs() -> UInt64? {
    var ts = timespec()
    guard clock_gettime(CLOCK_REALTIME, &ts) == 0 else { return nil }
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// The host's time-stamp counter on the calling CPU (RDTSC), to place host actions on the guest's TSC
/// time line (guest TSC = host TSC + KVM's TSC offset when TSC scaling is off).
public func hostTimestampCounter() -> UInt64 { lbr_rdtsc() }
