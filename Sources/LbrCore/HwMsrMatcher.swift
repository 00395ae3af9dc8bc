// Which of the payload's MSR accesses KVM intercepted: the payload's own description of what it touches
// (`GuestMailbox.Request.msrSequence`, program order) matched against the `kvm:kvm_msr` events KVM emitted
// on the vCPU thread during the command. An access with a matching event (same index and direction, in
// order) was handled by KVM — trapped; one without was passed through to the hardware (§1.5; conventions
// "kvm_msr"). Pure: no syscalls, unit-tested.

/// Matches a command's MSR sequence with the `kvm:kvm_msr` events seen during it.
public enum HwMsrMatcher {
    /// The result of matching one command.
    public struct Match: Hashable, Sendable {
        /// One entry per access the guest performed (the sequence stops at a faulting access), in program order.
        public var accesses: [MsrAccess]
        /// Trace events that matched no access of the sequence (evidence of something else touching MSRs).
        public var unmatched: [KvmMsrEvent]
        /// Set when the guest faulted but no trapped access carried the exception (the fault was attributed
        /// to the first access of the faulting direction that had no event).
        public var attributionNote: String?
    }

    /// Matches `sequence` with `events`.
    ///
    /// - Parameters:
    ///   - sequence: the payload's accesses for the command, in program order.
    ///   - events: decoded `kvm:kvm_msr` events of the vCPU thread during the command, in time order.
    ///   - result: the guest's result; its values give the read values (reads in order), its status whether
    ///     the command faulted (and at which instruction).
    ///   - rdmsrSites / wrmsrSites: the payload's RDMSR / WRMSR instruction addresses (fault direction): the
    ///     generic ones and the branch-free TOS probe's pair.
    public static func match(sequence: [GuestMailbox.GuestMsrAccess], events: [KvmMsrEvent], result: GuestResult,
                             rdmsrSites: Set<UInt64>, wrmsrSites: Set<UInt64>) -> Match {
        var pending = events
        var out: [MsrAccess] = []
        var readOrdinal = 0
        var faultedSeen = false
        let okValues = result.status == .ok ? result.values : []
        var faultIsWrite: Bool?
        if case let .fault(_, rip) = result.status {
            faultIsWrite = wrmsrSites.contains(rip) ? true : (rdmsrSites.contains(rip) ? false : nil)
        }
        for a in sequence {
            var access = MsrAccess(index: a.index, isWrite: a.isWrite, value: a.isWrite ? a.value : 0, trapped: false)
            if let i = pending.firstIndex(where: { $0.index == a.index && $0.isWrite == a.isWrite }) {
                let e = pending.remove(at: i)
                access.trapped = true
                access.faulted = e.exception
                if !a.isWrite { access.value = e.data }
            }
            if !a.isWrite {
                if readOrdinal < okValues.count { access.value = okValues[readOrdinal] }
                readOrdinal += 1
            }
            out.append(access)
            if access.faulted { faultedSeen = true; break }
        }
        var note: String?
        if let faultIsWrite, !faultedSeen {
            // The guest faulted on an access KVM did not report: attribute it to the first untrapped access of
            // that direction and drop what follows (the payload stops at a fault).
            if let k = out.firstIndex(where: { !$0.trapped && $0.isWrite == faultIsWrite }) {
                out[k].faulted = true
                out.removeSubrange((k + 1)...)
                note = "guest #\(faultIsWrite ? "WRMSR" : "RDMSR") fault without a kvm_msr exception event; attributed to MSR 0x\(String(out[k].index, radix: 16))"
            } else {
                note = "guest fault at an MSR instruction that matches no access of the command"
            }
        } else if faultIsWrite == nil, case .fault = result.status, !faultedSeen {
            // Faulted elsewhere (not at an MSR instruction): keep only trapped accesses, they certainly ran.
            out = out.filter(\.trapped)
        }
        return Match(accesses: out, unmatched: pending, attributionNote: note)
    }

    /// Whether an access is LBR-relevant for the verdict: an LBR MSR of `layout` (§1.3) or DEBUGCTL (§1.9).
    public static func isLbrRelevant(_ index: UInt32, layout: LbrLayout) -> Bool {
        index == MSR.debugctl || layout.isLbrMsr(index)
    }
}

/// The `kvm:kvm_msr` trace lines of one guest command as the hw backend read them, with the payload's MSR
/// instruction sites: what its `.msrAccess` observations (and attribution notes) are derived from, so a capture
/// can attribute them again (docs/capture-format.md).
public struct KvmMsrTraceLines: Hashable, Sendable, Codable {
    /// Decoded trace lines of the vCPU thread during the command, in time order.
    public var events: [KvmMsrEvent]
    /// The payload's RDMSR / WRMSR instruction addresses (generic helpers and the TOS probe's pair).
    public var rdmsrSites: [UInt64]
    public var wrmsrSites: [UInt64]
    /// How many observations right after this one the run derived from it (`judge` replaces them).
    public var derived: Int

    public init(events: [KvmMsrEvent], rdmsrSites: [UInt64], wrmsrSites: [UInt64], derived: Int = 0) {
        self.events = events; self.rdmsrSites = rdmsrSites; self.wrmsrSites = wrmsrSites; self.derived = derived
    }

    /// The most trace lines one command's record may hold (the payload's largest command makes < 200 accesses).
    public static let maxEvents = 1 << 16

    /// The observations for the command that returned `result`: its LBR-relevant accesses (`HwMsrMatcher`) with
    /// the matcher's attribution note, and a note for lines outside the payload's sequence.
    public func observations(result: GuestResult, layout: LbrLayout) -> [Observation] {
        guard case let .success(request) = GuestMailbox.request(for: result.command, layout: layout) else { return [] }
        let m = HwMsrMatcher.match(sequence: request.msrSequence, events: events, result: result,
                                   rdmsrSites: Set(rdmsrSites), wrmsrSites: Set(wrmsrSites))
        var out: [Observation] = m.accesses.filter { HwMsrMatcher.isLbrRelevant($0.index, layout: layout) }.map { .msrAccess($0) }
        if let n = m.attributionNote { out.append(.note(n)) }
        if !m.unmatched.isEmpty {
            let list = m.unmatched.prefix(8).map { "\($0.isWrite ? "wr" : "rd") 0x\(String($0.index, radix: 16))" }
            out.append(.note("\(m.unmatched.count) kvm_msr event(s) not in the payload's sequence: \(list.joined(separator: ", "))"))
        }
        return out
    }
}
