import LbrCore
#if canImport(Glibc)
import Glibc
#endif

/// Counts the context switches of one thread (e.g. the vCPU thread) with the software event
/// PERF_COUNT_SW_CONTEXT_SWITCHES on that task (pid = tid, cpu = -1). A vCPU thread switched out
/// while loaded is what lets KVM release an idle vLBR (reference §1.6, §8.4), so this count tells
/// whether the release path could have run.
public final class ContextSwitchObserver: Sendable {
    public let tid: Int32
    public let event: PerfEvent

    /// The attribute: software context-switches counter, counting (no sampling), standard read_format.
    public static var attr: PerfAttr { PerfAttr(type: .software, config: PerfSwConfig.contextSwitches) }

    /// Starts counting for thread `tid` (0 = the calling thread).
    public init(tid: Int32) throws(PerfOpenError) {
        self.tid = tid
        self.event = try PerfEvent.open(attr: ContextSwitchObserver.attr, pid: tid, cpu: -1)
    }

    /// Switches counted so far (nil if the kernel reports the event in ERROR, which a software
    /// event should never be).
    public func count() throws(LinuxError) -> UInt64? { try event.read()?.value }

    /// The full reading (value and times).
    public func reading() throws(LinuxError) -> PerfReading? { try event.read() }

    /// Zeroes the count.
    public func reset() throws(LinuxError) { try event.reset() }

    public func close() { event.close() }
}
