import LbrTestSupport
import Foundation
import LbrBackends
import LbrCore
import LbrLinux
import LbrModel
import LbrScenarios
import Testing

extension ThisHost {
    static func run(_ backend: any ScenarioBackend, _ scenarios: [Scenario] = Catalog.all,
                    expectations: ExpectationSet? = nil) -> RunReport {
        Backends.runner(backend: backend, options: RunOptions(cpu: cpu, timeoutNs: 30_000_000_000, kernelRelease: "test"),
                        expectations: expectations).run(scenarios)
    }
}

func guestResult(_ obs: [TimedObservation]) -> GuestResult? {
    obs.compactMap { if case let .guest(g) = $0.observation { return g }; return nil }.last
}

func modelAccesses(_ obs: [TimedObservation]) -> [MsrAccess] {
    obs.compactMap { if case let .msrAccess(a) = $0.observation { return a }; return nil }
}

/// The guest side of sim is an interpreter of the payload; hybrid runs the payload. Same MSR instructions,
/// same order, same model answers.
@Suite(.serialized) struct PayloadEquivalenceTests {
    static let commands: [GuestCommand] = [
        .enableLbr(freezeOnPmi: false), .branchPattern(count: 20), .readLbrStack, .writeTos(3), .probeTos(3),
        .rdmsr(MSR.lbrSelect), .wrmsr(MSR.lbrSelect, 0x3), .enableLbr(freezeOnPmi: true), .disableLbr,
        .spin(iterations: 10), .spinFor(microseconds: 200), .readTsc, .writeTos(1), .readLbrStack,
    ]

    /// A `spinFor` is a duration: the model charges exactly the requested time (plus the command loop), in one
    /// place (`PayloadProgram.guestTimeNs`), for sim and for hybrid's model side alike.
    @Test func spinForAdvancesModelTimeByItsDuration() throws {
        let loopOnly = PayloadProgram.guestTimeNs(for: GuestMailbox.Request(opcode: .nop), nsPerInstruction: 1)
        for (cmd, want) in [(GuestCommand.spinFor(microseconds: 2_000), UInt64(2_000_000)),
                            (.spinFor(microseconds: 10_000), 10_000_000), (.spinFor(microseconds: 0), 0)] {
            let r = try GuestMailbox.request(for: cmd, layout: .skylake,
                                             tscTicksPerMicrosecond: PayloadProgram.modelTscTicksPerMicrosecond).get()
            #expect(PayloadProgram.guestTimeNs(for: r, nsPerInstruction: 1) == want + loopOnly)
            // The rate the request carries does not change model time (hybrid's model side has the host's).
            var other = r; other.arg1 = 2_300
            #expect(PayloadProgram.guestTimeNs(for: other, nsPerInstruction: 1) == want + loopOnly)
            // Through the sim backend: the model clock moves by at least the duration across the command.
            let sim = SimBackend(variant: .mainline)
            _ = try sim.begin(Catalog.guestBaseline, cpu: 0)
            defer { _ = sim.end() }
            let h = try #require(sim.host)
            let t0 = h.nowNs
            let obs = try sim.perform(.guest(cmd), deadlineNs: ThisHost.deadline())
            #expect(guestResult(obs)?.status == .ok)
            #expect(h.nowNs - t0 >= want + loopOnly, "\(cmd): model advanced \(h.nowNs - t0) ns")
            #expect(h.nowNs - t0 < want + loopOnly + 1_000_000, "\(cmd): model advanced \(h.nowNs - t0) ns")
        }
    }

    @Test func programFollowsTheMailboxRequest() throws {
        let L = LbrLayout.skylake
        let read = try GuestMailbox.request(for: .readLbrStack, layout: L).get()
        let ops = PayloadProgram.msrOps(for: read)
        #expect(ops.count == 1 + 3 * 32)
        #expect(ops.first == .read(MSR.lbrTos))
        #expect(ops[1] == .read(L.from) && ops[33] == .read(L.to) && ops[65] == .read(L.info!))
        #expect(PayloadProgram.msrOps(for: try GuestMailbox.request(for: .writeTos(7), layout: L).get())
                == [.write(MSR.lbrTos, 7), .read(MSR.lbrTos)])
        #expect(PayloadProgram.msrOps(for: try GuestMailbox.request(for: .enableLbr(freezeOnPmi: false), layout: L).get())
                == [.write(MSR.debugctl, DebugCtl.lbr), .read(MSR.debugctl)])
        #expect(PayloadProgram.msrOps(for: try GuestMailbox.request(for: .branchPattern(count: 5), layout: L).get()).isEmpty)
        let b = PayloadProgram.branches(count: 18)
        let sites = GuestPayload.branchSites
        #expect(b.count == 18 && b[0] == sites[0] && b[16] == sites[0] && b[17] == sites[1])
        #expect(sites.allSatisfy { GuestPayload.range.contains($0.from) && GuestPayload.range.contains($0.to) })
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"),
          arguments: ["mainline", "seed-2023", "mediated"])
    func hybridExitsMatchSimInterpreter(model: String) throws {
        let variant = try #require(KernelVariant(name: model))
        let hybrid = HybridBackend(variant: variant, profile: ThisHost.profile)
        let sim = SimBackend(variant: variant)
        _ = try hybrid.begin(Catalog.guestBaseline, cpu: ThisHost.cpu)
        defer { _ = hybrid.end() }
        _ = try sim.begin(Catalog.guestBaseline, cpu: ThisHost.cpu)
        defer { _ = sim.end() }
        let layout = LbrLayout.skylake
        for cmd in Self.commands {
            let before = hybrid.msrExitLog.count
            let hObs = try hybrid.perform(.guest(cmd), deadlineNs: ThisHost.deadline())
            let sObs = try sim.perform(.guest(cmd), deadlineNs: ThisHost.deadline())
            let exits = Array(hybrid.msrExitLog[before...])
            let hr = try #require(guestResult(hObs)), sr = try #require(guestResult(sObs))
            let program = PayloadProgram.msrOps(for: try GuestMailbox.request(for: cmd, layout: layout).get())
            let simOps = modelAccesses(sObs).map { $0.isWrite ? GuestMsrOp.write($0.index, $0.value) : .read($0.index) }
            // The real guest's MSR exits = what the interpreter executed (writes with their values).
            #expect(exits.map(\.index) == simOps.map(\.index), "\(model) \(cmd): exits \(exits) vs sim \(simOps)")
            #expect(exits.map(\.isWrite) == simOps.map(\.isWrite), "\(model) \(cmd)")
            #expect(exits.filter(\.isWrite) == simOps.filter(\.isWrite), "\(model) \(cmd)")
            // Both follow the payload program, stopping at the first #GP.
            #expect(Array(program.prefix(exits.count)) == exits.map { $0.isWrite ? $0 : .read($0.index) }, "\(model) \(cmd)")
            if hr.status == .ok { #expect(exits.count == program.count, "\(model) \(cmd)") }
            // Same model answers, same results (TSC and exit counts aside).
            #expect(modelAccesses(hObs) == modelAccesses(sObs), "\(model) \(cmd)")
            #expect(hr.status == sr.status, "\(model) \(cmd): \(hr.status) vs \(sr.status)")
            if cmd != .readTsc { #expect(hr.values == sr.values, "\(model) \(cmd)") }
            #expect(hr.stack == sr.stack, "\(model) \(cmd)")
            if variant.guestHasLbr, cmd == .readLbrStack, let s = hr.stack {
                // The model's LBR records hold the payload's real branch-site addresses.
                let sites = Set(GuestPayload.branchSites.map { "\($0.from)>\($0.to)" })
                let pairs = zip(s.from, s.to).filter { $0.0 != 0 }
                #expect(pairs.count >= 16)
                // ... and the payload's own control flow (command loop, helper call/ret, §9.3): all inside its code.
                // (A read with LBR on records 5 branches per RDMSR, so the pattern itself is overwritten by then.)
                _ = sites
                #expect(pairs.allSatisfy { GuestPayload.range.contains($0.0) && GuestPayload.range.contains($0.1) })
            }
            if !variant.guestHasLbr, cmd == .writeTos(3) {
                #expect(hr.status == .fault(vector: 13, rip: GuestPayload.wrmsrSite))
            }
        }
    }
}

/// Every catalog scenario end to end for every model: sim always, hybrid on the real KVM guest.
@Suite(.serialized) struct ScenarioAgreementTests {
    @Test(arguments: Backends.modelNames)
    func simRunsEverything(model: String) throws {
        let r = ThisHost.run(try Backends.make(kind: .sim, model: model, profile: ThisHost.profile))
        #expect(r.results.count == Catalog.all.count)
        for x in r.results { #expect(x.status == .pass, "sim \(model) \(x.scenario): \(x.status) \(x.outcome.detail) \(x.reason ?? "")") }
        #expect(r.exitCode == .success)
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm with user-space MSR exits and MSR filters"),
          arguments: Backends.modelNames)
    func hybridRunsEverythingAndAgreesWithSim(model: String) throws {
        let h = ThisHost.run(try Backends.make(kind: .hybrid, model: model, profile: ThisHost.profile))
        let s = ThisHost.run(try Backends.make(kind: .sim, model: model, profile: ThisHost.profile))
        #expect(h.backend == .hybrid && h.availability.isAvailable)
        #expect(h.results.map(\.scenario) == Catalog.names)
        for (hr, sr) in zip(h.results, s.results) {
            #expect(hr.status == .pass, "hybrid \(model) \(hr.scenario): \(hr.status) \(hr.outcome.detail) \(hr.reason ?? "")")
            #expect(hr.outcome.code == sr.outcome.code, "\(model) \(hr.scenario): hybrid \(hr.outcome.code) sim \(sr.outcome.code)")
            #expect(hr.phases.map(\.inferred) == sr.phases.map(\.inferred), "\(model) \(hr.scenario)")
            // Each guest command really ran in the guest: hybrid results carry real exit counters.
            let guest = hr.records.flatMap(\.observations).compactMap { t -> GuestResult? in
                if case let .guest(g) = t.observation { return g }; return nil }
            #expect(!guest.isEmpty && guest.allSatisfy { $0.exits != nil })
        }
    }

    @Test(arguments: [("mainline", "expectations/mainline.expect"), ("seed-2023", "expectations/seed-2023.expect"),
                      ("arch-lbr-host", "expectations/arch-lbr-host.expect")])
    func shippedExpectationsHold(model: String, file: String) throws {
        let set = try ExpectationSet.parse(try repoFile(file), file: file, knownScenarios: Set(Catalog.names),
                                           knownModels: Set(Backends.modelNames))
        var kinds: [BackendKind] = [.sim]
        if ThisHost.hybridAvailable { kinds.append(.hybrid) }
        for k in kinds {
            let r = ThisHost.run(try Backends.make(kind: k, model: model, profile: ThisHost.profile), expectations: set)
            for x in r.results {
                #expect(x.status == .pass, "\(k) \(model) \(x.scenario): \(x.outcome.code) vs \(x.expectation)")
                if case .met = x.expectation {} else { Issue.record("\(k) \(model) \(x.scenario): \(x.expectation)") }
            }
            if model == "mainline" {
                // Reference §3.4/§8.1: on mainline a host LBR event does not put the vLBR in ERROR.
                let hf = try #require(r.results.first { $0.scenario == "host-first" })
                #expect(hf.outcome.terms.first == .guestWinsHostStarved)
            }
        }
    }

    @Test(.enabled(if: ThisHost.hybridAvailable, "needs /dev/kvm"))
    func hybridReallyPreemptsTheVcpuThread() throws {
        let backend = HybridBackend(variant: .mainline, profile: ThisHost.profile)
        let r = ThisHost.run(backend, [Catalog.recoveryPaths])
        let release = try #require(r.results.first?.records.first { $0.phase == "release" })
        let real = release.observations.compactMap { t -> Int? in
            if case let .contextSwitches(n) = t.observation { return n }; return nil }
        #expect(real.count == 1, "one real measurement per preemption step")
        // The hog's own report, typed: a SCHED_FIFO hog woken inside KVM_RUN preempts the vCPU thread.
        let hog = try #require(backend.hogReports.last)
        #expect(backend.hogReports.count == 1 && hog.triggered, "\(backend.hogReports)")
        if hog.fifo { #expect((real.first ?? 0) > 0, "\(hog)") }
        // The model's own view is kept beside the real one, typed (never counted as real).
        #expect(release.observations.contains { if case .modelContextSwitches = $0.observation { return true }; return false })
    }
}

@Suite struct HwPlaceholderTests {
    @Test func hwSkipsEveryScenarioWithTheEligibilityReason() throws {
        let b = try Backends.make(kind: .hw, model: nil, profile: ThisHost.profile)
        let e = Eligibility.hw(ThisHost.profile)
        guard case let .unavailable(blockers) = b.availability() else { Issue.record("hw available?"); return }
        if !e.eligible { #expect(blockers == e.blockers) }
        let reason = b.availability().text
        let r = ThisHost.run(b)
        #expect(r.results.allSatisfy { $0.status == .skip && ($0.reason ?? "").contains(reason) })
        #expect(r.exitCode == .skip)
        #expect(throws: BackendError.self) { _ = try b.begin(Catalog.guestBaseline, cpu: 0) }
    }

    @Test func autoPicksTheFirstAvailableAndSaysWhy() throws {
        let pick = try Backends.auto(model: nil, profile: ThisHost.profile)
        if Eligibility.hw(ThisHost.profile).eligible {
            // Until the hw backend lands the placeholder is unavailable even here.
            #expect(pick.backend.kind != .hw)
        }
        if ThisHost.hybridAvailable { #expect(pick.backend.kind == .hybrid) } else { #expect(pick.backend.kind == .sim) }
        #expect(pick.choice.chosen == pick.backend.kind)
        #expect(pick.choice.passedOver.first?.backend == .hw && pick.choice.passedOver.first?.reasons.isEmpty == false)
        #expect(pick.choice.text.contains("hw unavailable"))
        #expect(throws: BackendConfigError.self) { _ = try Backends.make(kind: .sim, model: "nope", profile: ThisHost.profile) }
        #expect(Backends.modelNames.contains(Backends.defaultModel))
    }

}
