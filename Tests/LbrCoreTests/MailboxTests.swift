import Testing
@testable import LbrCore

func page(seq: UInt32, status: UInt32, values: [UInt64], vector: UInt32 = 0, rip: UInt64 = 0) -> [UInt8] {
    var p = [UInt8](repeating: 0, count: GuestMailbox.pageSize)
    p.withUnsafeMutableBytes { b in
        b.storeBytes(of: GuestMailbox.resultMagic, toByteOffset: GuestMailbox.resMagicOffset, as: UInt32.self)
        b.storeBytes(of: seq, toByteOffset: GuestMailbox.resSeqOffset, as: UInt32.self)
        b.storeBytes(of: status, toByteOffset: GuestMailbox.resStatusOffset, as: UInt32.self)
        b.storeBytes(of: vector, toByteOffset: GuestMailbox.resVectorOffset, as: UInt32.self)
        b.storeBytes(of: rip, toByteOffset: GuestMailbox.resRipOffset, as: UInt64.self)
        b.storeBytes(of: UInt64(10), toByteOffset: GuestMailbox.resTscBeginOffset, as: UInt64.self)
        b.storeBytes(of: UInt64(20), toByteOffset: GuestMailbox.resTscEndOffset, as: UInt64.self)
        b.storeBytes(of: UInt32(values.count), toByteOffset: GuestMailbox.resCountOffset, as: UInt32.self)
        b.storeBytes(of: UInt32(GuestMailbox.valuesOffset), toByteOffset: GuestMailbox.resValuesOffsetOffset, as: UInt32.self)
        for (i, v) in values.enumerated() {
            b.storeBytes(of: v, toByteOffset: GuestMailbox.valuesOffset + 8 * i, as: UInt64.self)
        }
    }
    return p
}

@Suite("GuestMailbox codec")
struct MailboxTests {
    let layout = LbrLayout.skylake

    @Test func mapsEveryGuestCommand() throws {
        let cmds: [GuestCommand] = [.enableLbr(freezeOnPmi: true), .enableLbr(freezeOnPmi: false), .disableLbr,
                                    .branchPattern(count: 7), .readLbrStack, .writeTos(3), .rdmsr(0x680),
                                    .wrmsr(0x1d9, 1), .spin(iterations: 9), .spinFor(microseconds: 5), .readTsc]
        for c in cmds { #expect((try? GuestMailbox.request(for: c, layout: layout).get()) != nil, "\(c)") }
        let en = try GuestMailbox.request(for: .enableLbr(freezeOnPmi: true), layout: layout).get()
        #expect(en.opcode == .writeRead && en.arg0 == UInt64(MSR.debugctl) && en.arg1 == DebugCtl.lbr | DebugCtl.freezeLbrsOnPmi)
        let tos = try GuestMailbox.request(for: .writeTos(3), layout: layout).get()
        #expect(tos.arg0 == UInt64(layout.tos) && tos.arg1 == 3)
        let rd = try GuestMailbox.request(for: .readLbrStack, layout: layout).get()
        #expect(rd.depth == 32 && rd.from == 0x680 && rd.to == 0x6c0 && rd.info == 0xdc0)
        #expect(rd.expectedValueCount == 97)
        // Allowlist and argument checks.
        #expect((try? GuestMailbox.request(for: .rdmsr(0xC000_0080), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .wrmsr(0x10a, 0), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .branchPattern(count: -1), layout: layout).get()) == nil)
        // The pattern is bounded (the payload rejects a larger count too); sized commands are never encoded.
        #expect((try? GuestMailbox.request(for: .branchPattern(count: GuestMailbox.maxBranches), layout: layout).get()) != nil)
        #expect((try? GuestMailbox.request(for: .branchPattern(count: GuestMailbox.maxBranches + 1), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .tracedPattern(periods: 20), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .spin(iterations: -1), layout: layout).get()) == nil)
    }

    @Test func spinForCarriesMicrosecondsAndTheTscRate() throws {
        let r = try GuestMailbox.request(for: .spinFor(microseconds: 2_000), layout: layout, tscTicksPerMicrosecond: 2_995).get()
        #expect(r.opcode == .spinFor && r.opcode.rawValue == 9 && r.arg0 == 2_000 && r.arg1 == 2_995)
        #expect(r.expectedValueCount == 0 && r.msrSequence.isEmpty)
        // Without a rate the request is still encodable (arg1 0, which the payload rejects as a bad command).
        #expect(try GuestMailbox.request(for: .spinFor(microseconds: 1), layout: layout).get().arg1 == 0)
        // The rate only goes into SPIN_FOR.
        #expect(try GuestMailbox.request(for: .spin(iterations: 3), layout: layout, tscTicksPerMicrosecond: 7).get().arg1 == 0)
        #expect((try? GuestMailbox.request(for: .spinFor(microseconds: -1), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .spinFor(microseconds: GuestMailbox.maxSpinMicroseconds + 1), layout: layout).get()) == nil)
        #expect((try? GuestMailbox.request(for: .spinFor(microseconds: GuestMailbox.maxSpinMicroseconds), layout: layout).get()) != nil)
        #expect(GuestCommand.spinFor(microseconds: 2_000).description == "spin-for(2000us)")
        // Encoded where the payload reads it.
        var p = [UInt8](repeating: 0, count: GuestMailbox.pageSize)
        p.withUnsafeMutableBytes { GuestMailbox.encode(r, seq: 9, into: $0) }
        p.withUnsafeBytes { b in
            #expect(b.load(fromByteOffset: GuestMailbox.cmdOpcodeOffset, as: UInt32.self) == 9)
            #expect(b.load(fromByteOffset: GuestMailbox.cmdArg0Offset, as: UInt64.self) == 2_000)
            #expect(b.load(fromByteOffset: GuestMailbox.cmdArg1Offset, as: UInt64.self) == 2_995)
        }
        // An ok result must carry no values; a rejected one is an error.
        #expect(GuestMailbox.decode(page(seq: 9, status: 1, values: []), seq: 9, request: r).status == .ok)
        if case .error = GuestMailbox.decode(page(seq: 9, status: 1, values: [1]), seq: 9, request: r).status {} else {
            Issue.record("spin-for ok with a value accepted")
        }
        if case .error = GuestMailbox.decode(page(seq: 9, status: 3, values: []), seq: 9, request: r).status {} else {
            Issue.record("bad command not an error")
        }
    }

    @Test func encodeWritesTheCommandArea() {
        var p = [UInt8](repeating: 0xFF, count: GuestMailbox.pageSize)
        let req = GuestMailbox.Request(opcode: .readLbr, arg0: 1, arg1: 2, depth: 16, tos: 0x1c9, from: 0x680, to: 0x6c0, info: 0)
        p.withUnsafeMutableBytes { GuestMailbox.encode(req, seq: 42, into: $0) }
        p.withUnsafeBytes { b in
            #expect(b.load(fromByteOffset: 0, as: UInt32.self) == GuestMailbox.commandMagic)
            #expect(b.load(fromByteOffset: 4, as: UInt32.self) == 42)
            #expect(b.load(fromByteOffset: 8, as: UInt32.self) == 5)
            #expect(b.load(fromByteOffset: 0xC, as: UInt32.self) == 16)
            #expect(b.load(fromByteOffset: 0x24, as: UInt32.self) == 0x680)
            #expect(b.load(fromByteOffset: GuestMailbox.resMagicOffset, as: UInt32.self) == 0) // stale result cleared
        }
    }

    @Test func decodesValidResults() throws {
        let req = try GuestMailbox.request(for: .readLbrStack, layout: .nehalem).get()
        let vals = (0..<33).map { UInt64($0) }
        let r = GuestMailbox.decode(page(seq: 3, status: 1, values: vals), seq: 3, request: req)
        #expect(r.status == .ok)
        let res = GuestMailbox.result(for: .readLbrStack, request: req, reply: r)
        #expect(res.stack == LbrStackSnapshot(tos: 0, from: Array(1...16).map(UInt64.init), to: Array(17...32).map(UInt64.init)))
        #expect(res.tscBegin == 10 && res.tscEnd == 20)
        let f = GuestMailbox.decode(page(seq: 4, status: 2, values: [], vector: 13, rip: 0x10150), seq: 4, request: req)
        #expect(f.status == .fault(vector: 13, rip: 0x10150))
    }

    @Test func rejectsMalformedResults() throws {
        let req = GuestMailbox.Request(opcode: .rdmsr, arg0: 0x1d9)
        func isError(_ r: GuestMailbox.Reply) -> Bool { if case .error = r.status { return true }; return false }
        #expect(isError(GuestMailbox.decode(page(seq: 1, status: 1, values: [1]), seq: 2, request: req)))   // stale seq
        #expect(isError(GuestMailbox.decode(page(seq: 1, status: 9, values: [1]), seq: 1, request: req)))   // bad status
        #expect(isError(GuestMailbox.decode(page(seq: 1, status: 0, values: [1]), seq: 1, request: req)))   // running
        #expect(isError(GuestMailbox.decode(page(seq: 1, status: 1, values: []), seq: 1, request: req)))    // count
        #expect(isError(GuestMailbox.decode(page(seq: 1, status: 2, values: [], vector: 300), seq: 1, request: req)))
        var p = page(seq: 1, status: 1, values: [1])
        p.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(4090), toByteOffset: GuestMailbox.resValuesOffsetOffset, as: UInt32.self) }
        #expect(isError(GuestMailbox.decode(p, seq: 1, request: req)))                                     // offset OOB
        p.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(0x100), toByteOffset: GuestMailbox.resValuesOffsetOffset, as: UInt32.self) }
        #expect(isError(GuestMailbox.decode(p, seq: 1, request: req)))                                     // overlaps header
        #expect(isError(GuestMailbox.decode(Array(page(seq: 1, status: 1, values: [1]).prefix(0x137)), seq: 1, request: req)))
        #expect(isError(GuestMailbox.decode([], seq: 1, request: req)))
    }

    /// ≥100k random and truncated mailboxes: decoding never traps and never reads out of bounds
    /// (every read goes through the bounds-checked buffer; an OOB read would trap in debug builds).
    @Test func fuzzedMailboxesNeverTrap() {
        var rng = SplitMix64(state: 0x1BD1_2025)
        let requests: [GuestMailbox.Request] = [
            .init(opcode: .rdmsr, arg0: 0x680), .init(opcode: .readLbr, depth: 32, tos: 0x1c9, from: 0x680, to: 0x6c0, info: 0xdc0),
            .init(opcode: .readLbr, depth: 16, tos: 0x1c9, from: 0x680, to: 0x6c0), .init(opcode: .branches, arg0: 5),
            .init(opcode: .spin, arg0: 1), .init(opcode: .ud2), .init(opcode: .spinFor, arg0: 2_000, arg1: 3_000),
        ]
        var ok = 0, errors = 0, faults = 0
        let valid = page(seq: 7, status: 1, values: Array(repeating: 5, count: 97))
        var buf = [UInt8](repeating: 0, count: GuestMailbox.pageSize)
        for i in 0..<120_000 {
            var length = buf.count
            buf.withUnsafeMutableBytes { b in
                switch i % 4 {
                case 0: // fully random page of random length
                    for w in 0..<(b.count / 8) { b.storeBytes(of: rng.next(), toByteOffset: 8 * w, as: UInt64.self) }
                    length = Int(rng.next() % UInt64(b.count + 1))
                case 1: // valid page, truncated
                    b.copyBytes(from: valid)
                    length = Int(rng.next() % UInt64(b.count + 1))
                default: // valid page with random header bytes mutated, sometimes truncated
                    b.copyBytes(from: valid)
                    for _ in 0..<(1 + Int(rng.next() % 6)) {
                        let o = GuestMailbox.resMagicOffset + Int(rng.next() % UInt64(GuestMailbox.resHeaderEnd - GuestMailbox.resMagicOffset))
                        b[o] = UInt8(truncatingIfNeeded: rng.next())
                    }
                    if rng.next() & 1 == 0 {
                        b.storeBytes(of: UInt32(rng.next() % 600), toByteOffset: GuestMailbox.resCountOffset, as: UInt32.self)
                        b.storeBytes(of: UInt32(rng.next() % 5000), toByteOffset: GuestMailbox.resValuesOffsetOffset, as: UInt32.self)
                    }
                    if i % 8 == 2 { length = Int(rng.next() % UInt64(b.count + 1)) }
                }
            }
            let req = requests[i % requests.count]
            let r = buf.withUnsafeBytes { GuestMailbox.decode(UnsafeRawBufferPointer(rebasing: $0[0..<length]), seq: 7, request: req) }
            switch r.status {
            case .ok:
                ok += 1
                if let want = req.expectedValueCount, want != r.values.count { Issue.record("ok with \(r.values.count) values") }
                _ = GuestMailbox.result(for: .readLbrStack, request: req, reply: r) // must not trap either
            case .fault: faults += 1
            case .error: errors += 1
            case .timeout: Issue.record("decode produced timeout")
            }
        }
        #expect(ok + errors + faults == 120_000)
        #expect(errors > 100_000)
    }
}

@Suite struct GuestMsrSequenceTests {
    @Test func writeTosIsWriteThenReadOfTos() throws {
        let r = try GuestMailbox.request(for: .writeTos(3), layout: .skylake).get()
        #expect(r.msrSequence == [.init(index: MSR.lbrTos, isWrite: true, value: 3), .init(index: MSR.lbrTos, isWrite: false)])
    }

    @Test func readLbrStackReadsTosThenFromToInfo() throws {
        let r = try GuestMailbox.request(for: .readLbrStack, layout: .skylake).get()
        let seq = r.msrSequence
        #expect(seq.count == 1 + 3 * 32)
        #expect(seq.allSatisfy { !$0.isWrite })
        #expect(seq[0].index == MSR.lbrTos)
        #expect(seq[1].index == MSR.lbrNhmFrom && seq[33].index == MSR.lbrNhmTo && seq[65].index == MSR.lbrInfo0)
        #expect(seq.count == r.expectedValueCount) // one value per read access
        let nhm = try GuestMailbox.request(for: .readLbrStack, layout: .nehalem).get()
        #expect(nhm.msrSequence.count == 1 + 2 * 16)
    }

    @Test func nonMsrCommandsTouchNoMsr() throws {
        for c: GuestCommand in [.branchPattern(count: 8), .spin(iterations: 10), .spinFor(microseconds: 10), .readTsc] {
            #expect(try GuestMailbox.request(for: c, layout: .skylake, tscTicksPerMicrosecond: 1_000).get().msrSequence.isEmpty)
        }
        let e = try GuestMailbox.request(for: .enableLbr(freezeOnPmi: false), layout: .skylake).get()
        #expect(e.msrSequence.map(\.index) == [MSR.debugctl, MSR.debugctl])
    }
}

/// A branch pattern sized by time: periods × period over the guest time per branch, rounded up, capped.
@Suite struct TracedPatternSizingTests {
    @Test func branchesCoverThePeriodsAndStopAtTheCap() {
        // 20 periods of 33,334 ns at 3,000 ps per branch (the model): 222,227 branches (≥ 666,680 ns).
        #expect(HostSampling.branches(forPeriods: 20, periodNs: 33_334, psPerBranch: 3_000) == 222_227)
        // hw at 300 ps per branch: 20 × 33,334 ns = 2,222,267 branches (rounded up).
        #expect(HostSampling.branches(forPeriods: 20, periodNs: 33_334, psPerBranch: 300) == 2_222_267)
        // A lowered sample rate (period 2 ms) or an absurd period: capped at the payload's bound.
        #expect(HostSampling.branches(forPeriods: 20, periodNs: 2_000_000, psPerBranch: 250) == GuestMailbox.maxBranches)
        #expect(HostSampling.branches(forPeriods: 20, periodNs: .max, psPerBranch: 1) == GuestMailbox.maxBranches)
        #expect(HostSampling.branches(forPeriods: 0, periodNs: 33_334, psPerBranch: 300) == 0)
        #expect(HostSampling.branches(forPeriods: 20, periodNs: 33_334, psPerBranch: 0) == GuestMailbox.maxBranches)
    }
}
