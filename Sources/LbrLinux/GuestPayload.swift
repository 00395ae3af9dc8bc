import CLbrGuest
import LbrCore

/// The guest payload (CModules/CLbrGuest/guest.S) as the VMM sees it: code bytes, load address
/// and the guest-virtual addresses of its exported sites.
public enum GuestPayload {
    /// Guest address the payload is copied to (identity-mapped).
    public static let loadAddress = UInt64(LBR_GUEST_LOAD_ADDR)
    /// Guest-physical address of the mailbox page.
    public static let mailboxAddress = UInt64(LBR_GUEST_MAILBOX_ADDR)
    /// Top of the guest stack.
    public static let stackTop = UInt64(LBR_GUEST_STACK_TOP)

    static func offset(_ i: Int32) -> UInt64 {
        // SAFETY: `lbr_guest_offsets` is a C array of UInt32 indexed by the `i` the enum defines (inside its bounds).
        withUnsafeBytes(of: lbr_guest_offsets) { UInt64($0.load(fromByteOffset: 4 * Int(i), as: UInt32.self)) }
    }

    /// The payload code bytes.
    public static var code: UnsafeRawBufferPointer {
        // SAFETY: the payload image is a read-only array in the binary, `size` bytes long, alive for the process.
        UnsafeRawBufferPointer(start: UnsafeRawPointer(lbr_guest_image.start), count: Int(lbr_guest_image.size))
    }

    /// Guest addresses of the payload's fixed sites.
    public static var entry: UInt64 { loadAddress + offset(LBR_GUEST_OFF_ENTRY) }
    public static var commandLoop: UInt64 { loadAddress + offset(LBR_GUEST_OFF_CMD_LOOP) }
    /// The RDMSR instruction every guest MSR read but the TOS probe executes (a #GP reports this RIP).
    public static var rdmsrSite: UInt64 { loadAddress + offset(LBR_GUEST_OFF_RDMSR) }
    /// The WRMSR instruction every guest MSR write but the TOS probe executes.
    public static var wrmsrSite: UInt64 { loadAddress + offset(LBR_GUEST_OFF_WRMSR) }
    /// The `jmp .` of the test-only HANG command.
    public static var hangSite: UInt64 { loadAddress + offset(LBR_GUEST_OFF_HANG) }
    /// The `ud2` of the test-only UD2 command.
    public static var ud2Site: UInt64 { loadAddress + offset(LBR_GUEST_OFF_UD2) }
    /// The WRMSR of the branch-free TOS probe (opcode TOS_PROBE), immediately followed by its RDMSR.
    public static var probeWrmsrSite: UInt64 { loadAddress + offset(LBR_GUEST_OFF_PROBE_WRMSR) }
    /// The RDMSR of the branch-free TOS probe (directly after `probeWrmsrSite`).
    public static var probeRdmsrSite: UInt64 { loadAddress + offset(LBR_GUEST_OFF_PROBE_RDMSR) }
    /// Guest address range of the payload code.
    public static var range: Range<UInt64> { loadAddress..<(loadAddress + offset(LBR_GUEST_OFF_SIZE)) }

    /// Handlers of vectors 0..31 (IDT targets).
    public static var vectorHandlers: [UInt64] {
        // SAFETY: a C array of LBR_GUEST_NUM_VECTORS UInt32 values; only those are read.
        withUnsafeBytes(of: lbr_guest_vector_offsets) { raw in
            (0..<Int(LBR_GUEST_NUM_VECTORS)).map { loadAddress + UInt64(raw.load(fromByteOffset: 4 * $0, as: UInt32.self)) }
        }
    }

    /// The branch pattern's taken jmps in execution order: (FROM = the jmp, TO = its target).
    public static var branchSites: [(from: UInt64, to: UInt64)] {
        // SAFETY: a C array of UInt32 (from, to) pairs; only the pairs it declares are read.
        withUnsafeBytes(of: lbr_guest_branch_sites) { raw in
            (0..<Int(LBR_GUEST_NUM_BRANCH_SITES)).map {
                (loadAddress + UInt64(raw.load(fromByteOffset: 8 * $0, as: UInt32.self)),
                 loadAddress + UInt64(raw.load(fromByteOffset: 8 * $0 + 4, as: UInt32.self)))
            }
        }
    }

    /// One control-flow edge of the payload (guest.S `EJ`/`ECALL`/`ERET` rows of `lbr_guest_edges`): a branch,
    /// call or ret instruction that can be taken, with guest addresses.
    public struct Edge: Hashable, Sendable {
        /// LBR_EDGE_* id.
        public var id: UInt32
        /// The branch instruction.
        public var from: UInt64
        /// Its target (calls: the function; rets: unused, the target is the caller's return point).
        public var to: UInt64
        /// Calls: the instruction after the call (where the callee's ret lands); 0 otherwise.
        public var returnPoint: UInt64
    }

    /// Every exported edge, by id (read once from the payload image).
    public static let edges: [UInt32: Edge] = {
        var out: [UInt32: Edge] = [:]
        let rows = lbr_guest_edge_table.rows!
        for i in 0..<Int(lbr_guest_edge_table.count) {
            let r = rows[i]
            out[r.id] = Edge(id: r.id, from: loadAddress + UInt64(r.from), to: loadAddress + UInt64(r.to),
                             returnPoint: r.retpt == 0 ? 0 : loadAddress + UInt64(r.retpt))
        }
        return out
    }()

    /// Every edge as the LBR entries it can produce (a ret row has TO == FROM: it returns to a call's return
    /// point), for the exact-match guest-branch detector in host samples (docs/reference.md §9.7).
    public static let edgeSet = GuestEdgeSet(edges: edges.values.map {
        (from: $0.from, to: $0.to, returnPoint: $0.returnPoint, isRet: $0.to == $0.from)
    })

    /// The edge with id `id` (a LBR_EDGE_* constant); traps when the payload does not export it (a build error).
    public static func edge(_ id: Int32) -> Edge {
        guard let e = edges[UInt32(id)] else { preconditionFailure("guest.S exports no edge \(id)") }
        return e
    }

    /// Differences between the C header (used by the assembly) and LbrCore's GuestMailbox.
    /// Empty when host and guest speak the same protocol.
    public static func protocolMismatches() -> [String] {
        typealias M = GuestMailbox
        let pairs: [(String, Int, Int)] = [
            ("cmd magic", Int(LBR_MB_CMD_MAGIC), M.cmdMagicOffset), ("cmd seq", Int(LBR_MB_CMD_SEQ), M.cmdSeqOffset),
            ("cmd opcode", Int(LBR_MB_CMD_OPCODE), M.cmdOpcodeOffset), ("cmd depth", Int(LBR_MB_CMD_DEPTH), M.cmdDepthOffset),
            ("cmd arg0", Int(LBR_MB_CMD_ARG0), M.cmdArg0Offset), ("cmd arg1", Int(LBR_MB_CMD_ARG1), M.cmdArg1Offset),
            ("cmd tos", Int(LBR_MB_CMD_TOS), M.cmdTosOffset), ("cmd from", Int(LBR_MB_CMD_FROM), M.cmdFromOffset),
            ("cmd to", Int(LBR_MB_CMD_TO), M.cmdToOffset), ("cmd info", Int(LBR_MB_CMD_INFO), M.cmdInfoOffset),
            ("res magic", Int(LBR_MB_RES_MAGIC), M.resMagicOffset), ("res seq", Int(LBR_MB_RES_SEQ), M.resSeqOffset),
            ("res status", Int(LBR_MB_RES_STATUS), M.resStatusOffset), ("res vector", Int(LBR_MB_RES_VECTOR), M.resVectorOffset),
            ("res rip", Int(LBR_MB_RES_RIP), M.resRipOffset), ("res errcode", Int(LBR_MB_RES_ERRCODE), M.resErrorCodeOffset),
            ("res tsc0", Int(LBR_MB_RES_TSC0), M.resTscBeginOffset), ("res tsc1", Int(LBR_MB_RES_TSC1), M.resTscEndOffset),
            ("res count", Int(LBR_MB_RES_COUNT), M.resCountOffset), ("res voff", Int(LBR_MB_RES_VOFF), M.resValuesOffsetOffset),
            ("values", Int(LBR_MB_VALUES), M.valuesOffset), ("max values", Int(LBR_MB_MAX_VALUES), M.maxValues),
            ("max branches", Int(LBR_GUEST_MAX_BRANCHES), M.maxBranches),
            ("cmd magic value", Int(LBR_MB_CMD_MAGIC_VALUE), Int(M.commandMagic)),
            ("res magic value", Int(LBR_MB_RES_MAGIC_VALUE), Int(M.resultMagic)),
            ("doorbell port", Int(LBR_GUEST_DOORBELL_PORT), Int(M.doorbellPort)),
            ("ready", Int(LBR_GUEST_DB_READY), Int(M.doorbellReady)), ("done", Int(LBR_GUEST_DB_DONE), Int(M.doorbellDone)),
            ("ping", Int(LBR_GUEST_DB_PING), Int(M.doorbellPing)),
            ("op write_read", Int(LBR_OP_WRITE_READ), Int(M.Opcode.writeRead.rawValue)),
            ("op rdmsr", Int(LBR_OP_RDMSR), Int(M.Opcode.rdmsr.rawValue)),
            ("op wrmsr", Int(LBR_OP_WRMSR), Int(M.Opcode.wrmsr.rawValue)),
            ("op branches", Int(LBR_OP_BRANCHES), Int(M.Opcode.branches.rawValue)),
            ("op read_lbr", Int(LBR_OP_READ_LBR), Int(M.Opcode.readLbr.rawValue)),
            ("op spin", Int(LBR_OP_SPIN), Int(M.Opcode.spin.rawValue)),
            ("op rdtsc", Int(LBR_OP_RDTSC), Int(M.Opcode.rdtsc.rawValue)),
            ("op spin_for", Int(LBR_OP_SPIN_FOR), Int(M.Opcode.spinFor.rawValue)),
            ("op exit_loop", Int(LBR_OP_EXIT_LOOP), Int(M.Opcode.exitLoop.rawValue)),
            ("op hang", Int(LBR_OP_HANG), Int(M.Opcode.hang.rawValue)),
            ("op triple_fault", Int(LBR_OP_TRIPLE_FAULT), Int(M.Opcode.tripleFault.rawValue)),
            ("op ud2", Int(LBR_OP_UD2), Int(M.Opcode.ud2.rawValue)),
            ("op tos_probe", Int(LBR_OP_TOS_PROBE), Int(M.Opcode.tosProbe.rawValue)),
            ("st ok", Int(LBR_ST_OK), Int(M.RawStatus.ok.rawValue)),
            ("st fault", Int(LBR_ST_FAULT), Int(M.RawStatus.fault.rawValue)),
            ("st badcmd", Int(LBR_ST_BADCMD), Int(M.RawStatus.badCommand.rawValue)),
            ("st running", Int(LBR_ST_RUNNING), Int(M.RawStatus.running.rawValue)),
        ]
        return pairs.filter { $0.1 != $0.2 }.map { "\($0.0): header \($0.1) != GuestMailbox \($0.2)" }
    }
}
