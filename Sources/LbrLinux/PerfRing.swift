import CLbrShim
import LbrCore
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// The mmap'ed sample ring of a sampling perf event: 1 control page + 2^n data pages.
///
/// Reads `data_head` with acquire semantics, copies `[data_tail, data_head)` out (handling
/// wrap-around, `PerfRingLayout.linearize`), then publishes the new `data_tail` with release
/// semantics so the kernel may reuse the space. Mapped PROT_READ|PROT_WRITE: the kernel never
/// overwrites unread data (it counts the drops and emits PERF_RECORD_LOST).
/// `close()` unmaps; it is idempotent and `deinit` calls it.
public final class PerfRing: Sendable {
    /// The event whose samples this ring holds (kept alive by the ring).
    public let event: PerfEvent
    /// Number of data pages (a power of two).
    public let dataPages: Int
    public let pageSize: Int
    /// Layout used to parse samples (from the event's attribute).
    public let layout: PerfSampleLayout

    private struct State {
        var base: UInt?  // address of the mapping, nil once unmapped
        var length: Int
        var pending: [UInt8]  // bytes of an incomplete trailing record (never expected from the kernel)
    }
    private let state: Mutex<State>

    /// Maps the ring of `event` with `dataPages` data pages (must be a power of two ≥ 1).
    public init(event: PerfEvent, dataPages: Int = 8) throws(LinuxError) {
        guard dataPages >= 1, dataPages & (dataPages - 1) == 0 else {
            throw LinuxError(.invalidArgument, "PerfRing: dataPages \(dataPages) is not a power of two")
        }
        let fd = event.fd
        if fd < 0 { throw LinuxError(.badFileDescriptor, "PerfRing on a closed perf event") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let length = page * (1 + dataPages)
        // SAFETY: maps the perf ring of the open event (1 metadata page + `dataPages`, as perf_event_open(2)
        // requires); owned by this object, unmapped once by `close()`.
        guard let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw LinuxError.current("mmap(perf ring, \(1 + dataPages) pages, \(event.attr))")
        }
        self.event = event
        self.dataPages = dataPages
        self.pageSize = page
        self.layout = PerfSampleLayout(event.attr)
        self.state = Mutex(State(base: UInt(bitPattern: p), length: length, pending: []))
    }

    deinit { close() }

    /// Unmaps the ring. Idempotent. Does not close the event.
    public func close() {
        state.withLock { s in
            // SAFETY: unmaps the mapping made in init exactly once (`base` is cleared under the same lock).
            if let b = s.base, let p = UnsafeMutableRawPointer(bitPattern: b) { _ = munmap(p, s.length) }
            s.base = nil
        }
    }

    public var isClosed: Bool { state.withLock { $0.base == nil } }

    /// Data area size in bytes.
    public var dataSize: Int { dataPages * pageSize }

    /// Copies out every byte the kernel has published since the last call and advances `data_tail`.
    public func readAvailable() throws(LinuxError) -> [UInt8] {
        var failure: LinuxError?
        let out = state.withLock { s -> [UInt8] in
            guard let b = s.base, let base = UnsafeMutableRawPointer(bitPattern: b) else {
                failure = LinuxError(.badFileDescriptor, "PerfRing.readAvailable on an unmapped ring")
                return []
            }
            // SAFETY: the first page of the live mapping is the kernel's `struct perf_event_mmap_page`; the data area
            // is checked to lie inside the mapping below; head/tail use the shim's acquire load / release store.
            let page = base.assumingMemoryBound(to: perf_event_mmap_page.self)
            // data_offset/data_size exist since 4.1; fall back to "one page in, dataPages pages long".
            var dataOffset = Int(page.pointee.data_offset)
            var dataSize = Int(page.pointee.data_size)
            if dataOffset == 0 || dataSize == 0 { dataOffset = pageSize; dataSize = dataPages * pageSize }
            guard dataOffset + dataSize <= s.length else {
                failure = LinuxError(.ioError, "perf ring: data_offset \(dataOffset) + data_size \(dataSize) beyond mapping of \(s.length)")
                return []
            }
            let head = lbr_perf_ring_load_head(page)
            let tail = page.pointee.data_tail
            let data = UnsafeRawBufferPointer(start: base + dataOffset, count: dataSize)
            do throws(PerfRecordError) {
                let bytes = try PerfRingLayout.linearize(data: data, tail: tail, head: head)
                lbr_perf_ring_store_tail(page, head)
                return bytes
            } catch {
                failure = LinuxError(.ioError, "perf ring: \(error)")
                return []
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Drains the ring and parses the records (`PerfRecordParser`). A record cut by the copy (not
    /// expected: the kernel publishes whole records) is kept for the next call; any other
    /// inconsistency throws `PerfRingError.parse`.
    public func drain() throws(PerfRingError) -> [PerfRecord] {
        let fresh: [UInt8]
        do { fresh = try readAvailable() } catch { throw .linux(error) }
        let bytes = state.withLock { s -> [UInt8] in
            let b = s.pending + fresh
            s.pending = []
            return b
        }
        do {
            let r = try PerfRecordParser.parse(bytes, layout: layout, allowPartialTail: true)
            if r.consumed < bytes.count {
                state.withLock { $0.pending = Array(bytes[r.consumed...]) }
            }
            return r.records
        } catch {
            throw .parse(error)
        }
    }
}

/// Failure of `PerfRing.drain()`.
public enum PerfRingError: Error, Hashable, Sendable, CustomStringConvertible {
    case linux(LinuxError)
    case parse(PerfRecordError)
    public var description: String {
        switch self {
        case let .linux(e): return e.description
        case let .parse(e): return e.description
        }
    }
}
