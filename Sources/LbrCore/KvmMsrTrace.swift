// Decoding of `kvm:kvm_msr` tracepoint samples (arch/x86/kvm/trace.h, TRACE_EVENT(kvm_msr,
// TP_PROTO(unsigned write, u32 ecx, u64 data, bool exception))). KVM emits it once per MSR access it
// handles itself (kvm_emulate_rdmsr/wrmsr and the emulator): a passed-through LBR MSR access on VMX
// produces none, which makes its count a passthrough detector (reference §1.5; conventions "facts").
// Offsets come from the tracepoint's `format` file, never from here.

/// One decoded `kvm:kvm_msr` event.
public struct KvmMsrEvent: Hashable, Sendable, Codable {
    public var isWrite: Bool
    /// The MSR index (`ecx`).
    public var index: UInt32
    /// Value written, or value returned to the guest.
    public var data: UInt64
    /// Whether KVM injected #GP (`exception`).
    public var exception: Bool

    public init(isWrite: Bool, index: UInt32, data: UInt64, exception: Bool) {
        self.isWrite = isWrite; self.index = index; self.data = data; self.exception = exception
    }

    /// As an `MsrAccess`: KVM handled it, so it was trapped (not passed through).
    public var msrAccess: MsrAccess {
        MsrAccess(index: index, isWrite: isWrite, value: data, trapped: true, faulted: exception)
    }
}

/// Decoder of `kvm:kvm_msr` RAW payloads built from the tracepoint's parsed `format`.
public struct KvmMsrDecoder: Hashable, Sendable {
    public let format: TracepointFormat
    let write: TracepointField, ecx: TracepointField, data: TracepointField, exception: TracepointField

    /// The field names the decoder needs.
    public static let requiredFields = ["write", "ecx", "data", "exception"]

    /// Fails if the format lacks one of `write`, `ecx`, `data`, `exception` or gives one of them a
    /// non-integer size.
    public init(format: TracepointFormat) throws(TracepointFormatError) {
        func need(_ n: String) throws(TracepointFormatError) -> TracepointField {
            guard let f = format.field(n) else {
                throw TracepointFormatError("\(format.name) lacks field '\(n)' (fields: \(format.fields.map(\.name)))")
            }
            guard [1, 2, 4, 8].contains(f.size), f.arrayLength == nil else {
                throw TracepointFormatError("\(format.name) field '\(n)' has non-integer size \(f.size)")
            }
            return f
        }
        self.format = format
        write = try need("write"); ecx = try need("ecx"); data = try need("data"); exception = try need("exception")
    }

    /// Decodes one RAW payload (PERF_SAMPLE_RAW data of a kvm:kvm_msr sample).
    public func decode(_ raw: [UInt8]) throws(TracepointFormatError) -> KvmMsrEvent {
        let w = try format.value(write, in: raw).uint64 ?? 0
        let e = try format.value(ecx, in: raw).uint64 ?? 0
        let d = try format.value(data, in: raw).uint64 ?? 0
        let x = try format.value(exception, in: raw).uint64 ?? 0
        return KvmMsrEvent(isWrite: w != 0, index: UInt32(truncatingIfNeeded: e), data: d, exception: x != 0)
    }
}
