import LbrTestSupport
import Testing
import LbrCore
@testable import LbrScenarios

@Suite struct CatalogTests {
    @Test func catalogHasTheRequiredScenariosAndTheyAreSound() {
        let required = ["guest-baseline", "host-first", "host-preempts", "slot-contention", "counter-exhaustion",
                        "recovery-paths", "guest-traced", "irq-takeover", "switch-retention", "guest-leak"]
        #expect(Catalog.names == required)
        for s in Catalog.all {
            #expect(s.validate().isEmpty, "\(s.name): \(s.validate())")
            #expect(!s.question.isEmpty && s.question.hasSuffix("?"))
            #expect(s.citation.contains("§") || s.citation.contains("seed"))
        }
    }

    @Test func timingModesAreWhereTheScenariosNeedThem() {
        #expect(Catalog.hostFirst.timingModes == [.betweenExits])
        #expect(Catalog.hostPreempts.timingModes.contains(.whileVcpuRuns))
        #expect(Catalog.recoveryPaths.timingModes == [.betweenExits, .whileVcpuRuns, .preemption])
        #expect(Catalog.irqTakeover.timingModes.isSuperset(of: [.betweenExits, .whileVcpuRuns, .preemption]))
        #expect(Catalog.switchRetention.timingModes == [.preemption])
        // host-first: the contender is opened before the guest's first LBR access (seed case a).
        let steps = Catalog.hostFirst.steps
        let open = steps.firstIndex { if case .open? = $0.hostAction { return true }; return false }!
        let firstLbr = steps.firstIndex { $0.guestCommand == .enableLbr(freezeOnPmi: false) }!
        #expect(open < firstLbr)
        #expect(Catalog.slotContention.contenders == [.contender(.vlbrSlot)])
        #expect(Catalog.counterExhaustion.contenders == [.everyCounter])
        #expect(Catalog.guestTraced.contenders == [.contender(.pinnedLbrIncludingGuest)])
    }

    @Test func validateCatchesBrokenScenarios() {
        var s = Catalog.hostFirst
        s.phases[1].steps.removeFirst() // drop the close
        #expect(s.validate().contains { $0.contains("never closed") })
        var t = Catalog.guestBaseline
        t.rule = .baseline(phase: "nope")
        #expect(t.validate().contains { $0.contains("unknown phase 'nope'") })
        var u = Catalog.guestBaseline
        u.name = "Guest Baseline"
        #expect(!u.validate().isEmpty)
    }

    @Test func outcomeCodesAreStableAscii() {
        let o = ScenarioOutcome([.hostWinsVlbrError,
                                 .recovered(.lbrMsrAccess, RecoveryLatency(guestTscTicks: 2000, exits: 4, guestCommands: 2))])
        #expect(o.code == "host-wins-vlbr-error+recovered(lbr-msr-access)")
        #expect(o.detail == "host-wins-vlbr-error+recovered(lbr-msr-access,tsc=2000,exits=4,cmds=2)")
        #expect(Outcome.unsupported("no LBR # é").detail == "unsupported(no LBR _ _)")
        for c in Outcome.allCodes { #expect(c.unicodeScalars.allSatisfy { $0.isASCII }) }
    }
}

@Suite struct VerdictTests {
    func run(_ s: Scenario, _ world: SignalWorld, layout: LbrLayout? = .skylake) -> ScenarioResult {
        let b = ScriptedBackend(world: world)
        b.layout = layout
        return Runner(backend: b, options: RunOptions(kernelRelease: "6.18-test")).runOnce(s)
    }

    @Test func baselineActiveWithAgreeingSignals() {
        let r = run(Catalog.guestBaseline, SignalWorld { _, i in i == 0 ? .activatedByAccess : .active })
        #expect(r.outcome.code == "vlbr-active")
        #expect(r.status == .pass)
        let p = r.phases[0]
        #expect(p.inferred == .active)
        #expect(p.agreeing == [.tosReadback, .msrPassthrough, .stackContent])
        #expect(p.disagreeing.isEmpty)
    }

    @Test func baselineInactiveWhenWritesAreDropped() {
        let r = run(Catalog.guestBaseline, SignalWorld { _, _ in .inactive })
        #expect(r.outcome.code == "vlbr-inactive")
        #expect(r.phases[0].inferred == .notActive)
        // kmsg is the weakest signal (global ratelimit, other VMs): last in precedence (§9.4).
        #expect(r.phases[0].agreeing == [.tosReadback, .msrPassthrough, .stackContent, .kmsgFailToPassthrough])
    }

    @Test func disagreeingKmsgIsRecordedButReadbackDecides() {
        let w = SignalWorld { _, _ in .active }
        w.extraKmsgPhases = ["baseline"]
        let r = run(Catalog.guestBaseline, w)
        let p = r.phases[0]
        #expect(p.inferred == .active)
        #expect(p.disagreeing == [.kmsgFailToPassthrough])
        #expect(p.agreeing.contains(.tosReadback))
        #expect(r.outcome.code == "vlbr-active")
    }

    @Test func groundTruthIsACrossCheckNotAnInput() {
        let w = SignalWorld { _, _ in .active }
        w.groundTruth = { _ in .error }
        let r = run(Catalog.guestBaseline, w)
        #expect(r.phases[0].inferred == .active)              // inferred from signals …
        #expect(r.phases[0].groundTruth?.vlbr == .error)       // … model disagrees, and that is reported
        #expect(r.phases[0].groundTruth?.agreesWithInference == false)
        let w2 = SignalWorld { _, _ in .inactive }
        w2.groundTruth = { _ in .error }
        #expect(run(Catalog.guestBaseline, w2).phases[0].groundTruth?.agreesWithInference == true)
    }

    @Test func mainlineHostFirstIsGuestWinsHostStarved() {
        let r = run(Catalog.hostFirst, SignalWorld { _, _ in .active })
        #expect(r.outcome.code == "guest-wins-host-starved")
        let c = r.phases.first { $0.phase == "contended" }!
        #expect(c.hostStarved == true)
        #expect(c.agreeing.contains(.hostStarvation))
    }

    @Test func activeWithFedHostIsCoexist() {
        let w = SignalWorld { _, _ in .active }
        w.starveWhenActive = false
        let r = run(Catalog.hostFirst, w)
        #expect(r.outcome.code == "coexist")
        let c = r.phases.first { $0.phase == "contended" }!
        // Host got branch stacks while the readback says the vLBR was active: the signals disagree.
        #expect(c.inferred == .active)
        #expect(c.disagreeing == [.hostStarvation])
    }

    @Test func seedHostFirstErrorsThenRecoversOnFirstAccessWithLatency() {
        // contended: inactive. after: command 0 = spin (inactive), command 1 = first writeTos re-enables.
        let w = SignalWorld { p, i in p == "contended" ? .inactive : (i == 0 ? .inactive : (i == 1 ? .activatedByAccess : .active)) }
        let r = run(Catalog.hostFirst, w)
        #expect(r.outcome.code == "host-wins-vlbr-error+recovered(lbr-msr-access)")
        guard case let .recovered(_, lat?) = r.outcome.terms[1] else { Issue.record("no latency"); return }
        // spin 1000..2000, writeTos 2000..3000 (guest TSC), 2 exits each.
        #expect(lat == RecoveryLatency(guestTscTicks: 2000, exits: 4, guestCommands: 2))
    }

    @Test func recoveredByItselfWhenFirstAccessIsPassedThrough() {
        let w = SignalWorld { p, _ in p == "contended" ? .inactive : .active }
        let r = run(Catalog.slotContention, w)
        #expect(r.outcome.code == "host-wins-vlbr-error+recovered(none)")
        let c = r.phases.first { $0.phase == "contended" }!
        #expect(c.agreeing.contains(.vlbrSlotHolder))
    }

    @Test func mainlineSlotContentionStaysErrored() {
        let r = run(Catalog.slotContention, SignalWorld { _, _ in .inactive })
        #expect(r.outcome.code == "host-wins-vlbr-error+stays-errored")
        let c = r.phases.first { $0.phase == "contended" }!
        #expect(c.inferred == .notActive)
        #expect(Set(c.agreeing) == [.tosReadback, .msrPassthrough, .kmsgFailToPassthrough, .stackContent, .vlbrSlotHolder])
    }

    @Test func recoveryPathsFindsTheReleasePath() {
        let w = SignalWorld { p, i in
            switch p {
            case "setup": return i == 0 ? .activatedByAccess : .active
            case "release": return i >= 2 ? .active : .inactive   // fresh event after enableLbr
            default: return .inactive
            }
        }
        let r = run(Catalog.recoveryPaths, w)
        #expect(r.outcome.code == "host-wins-vlbr-error+recovered(release-after-preemption)")
        guard case let .recovered(_, lat?) = r.outcome.terms[1] else { Issue.record("no latency"); return }
        // after-access: 3 commands, debugctl-rewrite: 2, release: 4 (success is the 4th) → 9 commands.
        #expect(lat.guestCommands == 9)
        #expect(lat.exits == 18)
        #expect(lat.guestTscTicks == 9_000)
    }

    @Test func recoveryPathsDebugctlRewrite() {
        let w = SignalWorld { p, i in
            switch p {
            case "setup": return .active
            case "debugctl-rewrite": return i == 0 ? .inactive : .activatedByAccess
            default: return .inactive
            }
        }
        #expect(run(Catalog.recoveryPaths, w).outcome.code == "host-wins-vlbr-error+recovered(debugctl-rewrite)")
    }

    @Test func noGuestLbrFromFaultsAndFromMissingLayout() {
        let r = run(Catalog.hostFirst, SignalWorld { _, _ in .absent })
        #expect(r.outcome.code == "no-guest-lbr")
        #expect(r.phases[0].inferred == .noLbr)
        #expect(r.status == .pass)
        let r2 = run(Catalog.guestBaseline, SignalWorld { _, _ in .active }, layout: nil)
        #expect(r2.outcome.code == "no-guest-lbr")
    }

    @Test func tracingCountsGuestAddresses() {
        let w = SignalWorld { p, _ in p == "lbr-on" ? .inactive : .inactive }
        w.starveWhenActive = false
        w.guestAddresses = { p, _ in p == "lbr-on" ? 7 : 0 }
        let r = run(Catalog.guestTraced, w)
        #expect(r.outcome.code == "not-traced+guest-traced")
        #expect(r.phases[1].guestAddressesInHostSamples == 7)
    }

    @Test func tracingWithoutSamplesIsInconclusiveAndAnError() {
        let w = SignalWorld { _, _ in .active }
        w.samplesPerRead = 0
        let r = run(Catalog.guestTraced, w)
        #expect(r.outcome.terms.allSatisfy { if case .inconclusive = $0 { return true }; return false })
        #expect(r.status == .error)
    }

    @Test func irqTakeoverPerPhaseTerms() {
        let w = SignalWorld { p, _ in p == "while-running" ? .inactive : .active }
        #expect(run(Catalog.irqTakeover, w).outcome.code == "guest-wins-host-starved+host-wins-vlbr-error")
    }

    @Test func retentionComparesStacks() {
        let w = SignalWorld { _, _ in .active }
        w.stackFor = { p in p == "lbr-off-check" ? SignalWorld.zeroStack : SignalWorld.fullStack }
        #expect(run(Catalog.switchRetention, w).outcome.code == "retained+lost")
        let w2 = SignalWorld { _, _ in .active }
        w2.stackFor = { _ in SignalWorld.zeroStack }
        let r2 = run(Catalog.switchRetention, w2)
        #expect(r2.outcome.terms.first == .inconclusive("reference stack in lbr-on-reference is empty"))
    }
}

@Suite struct RunnerTests {
    @Test func endIsCalledAfterAThrownStepError() {
        var n = 0
        let b = ScriptedBackend { (_: String, _: Step) throws(BackendError) -> [Observation] in
            n += 1
            if n == 3 { throw .failed("KVM_RUN: EFAULT") }
            return []
        }
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.hostFirst)
        #expect(r.status == .error)
        #expect(r.reason?.contains("EFAULT") == true)
        #expect(r.outcome.code == "error")
        #expect(b.endCount == 1 && b.beginCount == 1)
        #expect(b.calls.last == "end")
        #expect(b.calls.filter { $0.hasPrefix("perform") }.count == 3)
    }

    /// A signal (the CLI's flag, here a box) stops the run after the current step: that run is an ERROR with
    /// its expectation not checked, `end()` still runs, every later run is SKIP "not run", and the report
    /// says which signal and exits 130 / 143.
    @Test(arguments: [Interruption.sigint, .sigterm])
    func interruptionStopsAfterTheCurrentStepAndSkipsTheRest(signal: Interruption) throws {
        final class Flag: @unchecked Sendable { var value: Interruption? }
        let flag = Flag()
        let w = SignalWorld { _, _ in .active }
        let b = ScriptedBackend(world: w)
        var steps = 0
        b.afterStep = { steps += 1; if steps == 2 { flag.value = signal } }   // arrives during the 2nd step
        let expect = try ExpectationSet.parse("host-first guest-wins-host-starved\n", file: "t", knownScenarios: Set(Catalog.names),
                                              knownModels: ["fake"])
        let runner = Runner(backend: b, options: RunOptions(repeats: 3, kernelRelease: "x"), expectations: expect,
                            interruption: { flag.value })
        let report = runner.run([Catalog.hostFirst, Catalog.guestBaseline])
        // Runs not started are counted, one entry per scenario: host-first r2-r3, guest-baseline r1-r3.
        #expect(report.results.count == 3)
        #expect(report.results.map(\.testName) == ["host-first.r1", "host-first.r2-r3", "guest-baseline.r1-r3"])
        #expect(report.results.map(\.runsCovered) == [1, 2, 3] && report.runsReported == 6 && report.runsNotStarted == 5)
        let first = report.results[0]
        #expect(first.status == .error)
        #expect(first.reason?.hasPrefix("\(signal.reason) after phase ") == true && first.reason?.contains("step 2") == true, "\(first.reason ?? "")")
        if case .notChecked = first.expectation {} else { Issue.record("expectation checked on an interrupted run: \(first.expectation)") }
        #expect(b.beginCount == 1 && b.endCount == 1 && b.calls.last == "end")
        #expect(b.calls.filter { $0.hasPrefix("perform") }.count == 2)
        for r in report.results.dropFirst() {
            #expect(r.status == .skip && r.reason == "not run: \(signal.reason) (\(r.runsCovered) runs not started)")
        }
        #expect(report.interruption == signal)
        #expect(report.exitCode == signal.exitCode)
        #expect(report.exitCode.rawValue == (signal == .sigint ? 130 : 143))
        // No signal: no interruption, the usual exit code.
        flag.value = nil
        let calm = Runner(backend: ScriptedBackend(world: w), options: RunOptions(kernelRelease: "x")).run([Catalog.guestBaseline])
        #expect(calm.interruption == nil && calm.exitCode != .interrupted && calm.exitCode != .terminated)
    }

    @Test func timeoutFromTheClockStopsAndStillEnds() {
        let clock = FakeClock()
        let w = SignalWorld { _, _ in .active }
        let b = ScriptedBackend(world: w)
        b.afterStep = { clock.now += 1_000_000_000 }   // each step takes 1 s
        let opts = RunOptions(timeoutNs: 2_500_000_000, kernelRelease: "x")
        let r = Runner(backend: b, options: opts, monotonicNs: clock.read).runOnce(Catalog.hostFirst)
        #expect(r.status == .timeout)
        #expect(b.calls.filter { $0.hasPrefix("perform") }.count == 3)
        #expect(b.endCount == 1)
        #expect(r.reason?.contains("exceeded 2500 ms") == true)
    }

    @Test func guestTimeoutStatusIsATimeout() {
        let b = ScriptedBackend { (_: String, s: Step) throws(BackendError) -> [Observation] in
            guard let g = s.guestCommand else { return [] }
            return [.guest(GuestResult(command: g, status: .timeout))]
        }
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.guestBaseline)
        #expect(r.status == .timeout)
        #expect(b.endCount == 1)
    }

    @Test func guestErrorStatusIsAnError() {
        let b = ScriptedBackend { (_: String, s: Step) throws(BackendError) -> [Observation] in
            guard let g = s.guestCommand else { return [] }
            return [.guest(GuestResult(command: g, status: .error("mailbox: length 9000 exceeds 4096")))]
        }
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.guestBaseline)
        #expect(r.status == .error)
        #expect(r.reason?.hasSuffix("guest: mailbox: length 9000 exceeds 4096") == true)
        #expect(b.endCount == 1)
    }

    @Test func unsupportedAndBeginFailures() {
        let b = ScriptedBackend(world: SignalWorld { _, _ in .active })
        b.supportFor = { $0.name == "counter-exhaustion" ? .unsupported(reason: "no CPUID.0xA counters") : .supported }
        let r = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.counterExhaustion)
        #expect(r.status == .skip && r.outcome.code == "unsupported" && r.reason == "no CPUID.0xA counters")
        #expect(b.beginCount == 0 && b.endCount == 0)

        b.beginError = .failed("KVM_CREATE_VM: EBUSY")
        let r2 = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.guestBaseline)
        #expect(r2.status == .error && r2.reason == "begin: KVM_CREATE_VM: EBUSY")
        b.beginError = .unsupported("needs root")
        let r3 = Runner(backend: b, options: RunOptions(kernelRelease: "x")).runOnce(Catalog.guestBaseline)
        #expect(r3.status == .skip)
    }

    @Test func unavailableBackendSkipsEverythingWithExit4() {
        let b = ScriptedBackend(world: SignalWorld { _, _ in .active }, kind: .hw, model: nil)
        b.avail = .unavailable([.init(.notIntel, "CPU vendor is AuthenticAMD", ref: "§1")])
        let rep = Runner(backend: b, options: RunOptions(kernelRelease: "6.18")).run(Catalog.all)
        #expect(rep.results.count == Catalog.all.count)
        #expect(rep.results.allSatisfy { $0.status == .skip && $0.reason!.contains("CPU vendor is AuthenticAMD") })
        #expect(rep.exitCode == .skip)
        #expect(rep.exitCode.rawValue == 4)
        #expect(b.beginCount == 0)
    }

    @Test func repeatsGiveADistributionAndExitCodes() {
        var run = 0
        let b = ScriptedBackend(world: SignalWorld { _, _ in .active })
        let world2 = SignalWorld { _, _ in .inactive }
        let world1 = SignalWorld { _, _ in .active }
        b.respond = { (p: String, s: Step) throws(BackendError) -> [Observation] in
            if case .enableLbr? = s.guestCommand, p == "baseline" { run += 1 }
            return (run == 2 ? world2 : world1).respond(p, s)
        }
        let rep = Runner(backend: b, options: RunOptions(repeats: 3, kernelRelease: "x")).run([Catalog.guestBaseline])
        #expect(rep.results.map(\.testName) == ["guest-baseline.r1", "guest-baseline.r2", "guest-baseline.r3"])
        #expect(rep.distributions == [OutcomeDistribution(scenario: "guest-baseline",
            counts: [OutcomeCount(outcome: "vlbr-active", count: 2), OutcomeCount(outcome: "vlbr-inactive", count: 1)], runs: 3)])
        #expect(rep.exitCode == .success)
        #expect(b.endCount == 3)

        let exp = try! ExpectationSet.parse("guest-baseline vlbr-active\n")
        run = 0
        let rep2 = Runner(backend: b, options: RunOptions(repeats: 3, kernelRelease: "x"), expectations: exp)
            .run([Catalog.guestBaseline])
        #expect(rep2.results.map(\.status) == [.pass, .fail, .pass])
        #expect(rep2.exitCode == .failure)
        #expect(rep2.results[1].expectation == .unmet(expected: "vlbr-active", line: 1))
    }
}

@Suite struct ExpectationTests {
    let known = Set(Catalog.names)

    @Test func parsesEntriesCommentsAlternativesAndModels() throws {
        let text = """
        # header
        host-first   guest-wins-host-starved        # mainline
        host-first@seed-2023  host-wins-vlbr-error+recovered(lbr-msr-access)|host-wins-vlbr-error+recovered
        slot-contention host-wins-vlbr-error+*

        """
        let set = try ExpectationSet.parse(text, knownScenarios: known)
        #expect(set.entries.count == 3)
        let plain = set.entry(scenario: "host-first", model: "mainline")!
        #expect(plain.line == 2 && plain.model == nil)
        let seed = set.entry(scenario: "host-first", model: "seed-2023")!
        #expect(seed.line == 3)
        let rec = ScenarioOutcome([.hostWinsVlbrError, .recovered(.releaseAfterPreemption, nil)])
        #expect(seed.matches(rec))                         // second alternative: any recovery path
        #expect(!seed.matches(ScenarioOutcome(.hostWinsVlbrError)))
        #expect(!plain.matches(rec))
        let slot = set.entry(scenario: "slot-contention", model: nil)!
        #expect(slot.matches(ScenarioOutcome([.hostWinsVlbrError, .staysErrored])))
        #expect(!slot.matches(ScenarioOutcome([.coexist, .staysErrored])))
        #expect(set.entry(scenario: "guest-baseline", model: nil) == nil)
    }

    @Test func errorsCarryLineNumbers() {
        let text = "host-first\nbogus-scenario vlbr-active\nhost-first vlbr-active\nhost-first coexist\nslot-contention recovered(sometimes)\nhost-preempts a b\n"
        do {
            _ = try ExpectationSet.parse(text, file: "x.expect", knownScenarios: known)
            Issue.record("should have failed")
        } catch {
            #expect(error.errors.map(\.line) == [1, 2, 4, 5, 6])
            #expect(error.errors[2].message.contains("duplicate entry for 'host-first' (first on line 3)"))
            #expect(error.description.hasPrefix("x.expect:1: missing outcome"))
        }
        #expect(throws: ExpectationParseError.self) {
            try ExpectationSet.parse("host-first@nomodel coexist", knownModels: ["mainline"])
        }
    }

    @Test func shippedExpectationFilesParseAndCoverTheCatalog() throws {
        for name in ["mainline", "seed-2023"] {
            let text = try repoFile("expectations/\(name).expect")
            let set = try ExpectationSet.parse(text, file: name, knownScenarios: known)
            #expect(Set(set.entries.map(\.scenario)) == known, "\(name) must cover every scenario")
        }
        let mainline = try ExpectationSet.parse(try repoFile("expectations/mainline.expect"))
        // Reference §3.4/§8.1: host-first is NOT an ERROR on mainline.
        #expect(mainline.entry(scenario: "host-first", model: nil)!.matches(ScenarioOutcome(.guestWinsHostStarved)))
        #expect(!mainline.entry(scenario: "host-first", model: nil)!.matches(
            ScenarioOutcome([.hostWinsVlbrError, .staysErrored])))
        let seed = try ExpectationSet.parse(try repoFile("expectations/seed-2023.expect"))
        #expect(seed.entry(scenario: "host-first", model: nil)!.matches(
            ScenarioOutcome([.hostWinsVlbrError, .recovered(.lbrMsrAccess, nil)])))
    }
}

@Suite struct SelectionTests {
    @Test func autoPicksTheBestAvailableAndSaysWhy() {
        let noPmu = EligibilityReason(.noCorePmu, "no Intel PMU", ref: "§4")
        let a: [BackendKind: BackendAvailability] = [
            .hw: .unavailable([noPmu]), .hybrid: .available(detail: "/dev/kvm API 12"),
            .sim: .available(detail: "model"),
        ]
        let c = BackendSelection.auto(a)!
        #expect(c.chosen == .hybrid)
        #expect(c.passedOver == [.init(backend: .hw, reasons: [noPmu])])
        #expect(c.text == "hybrid: /dev/kvm API 12 (hw unavailable: no Intel PMU [§4])")
        #expect(BackendSelection.auto([.hw: .available(detail: "Skylake")])!.chosen == .hw)
        #expect(BackendSelection.auto([.hw: .unavailable([noPmu])]) == nil)
    }

    /// The passed-over backends keep their typed blockers, each with its vendor scope: on an AMD host the
    /// Intel-only ones are told apart by their code, and ordered after the vendor-neutral ones.
    @Test func passedOverBackendsCarryTypedReasonsWithVendorScope() {
        let vendor = EligibilityReason(.notIntel, "CPU vendor is AuthenticAMD", ref: "§1")
        let module = EligibilityReason(.kvmIntelNotLoaded, "kvm_intel is not loaded", ref: "§1")
        let perf = EligibilityReason(.noPerfmonPrivilege, "not root", ref: "§4")
        let c = BackendSelection.auto([.hw: .unavailable([module, vendor, perf]), .sim: .available(detail: "model")])!
        #expect(c.chosen == .sim)
        #expect(c.passedOver.map(\.backend) == [.hw])
        #expect(c.passedOver[0].reasons.map(\.code) == [.kvmIntelNotLoaded, .notIntel, .noPerfmonPrivilege])
        #expect(c.passedOver[0].reasons.map(\.vendorScope) == [.intelOnly, .any, .any])
        let ordered = EligibilityReason.orderedForHost(c.passedOver[0].reasons)
        #expect(ordered.map(\.reason.code) == [.notIntel, .noPerfmonPrivilege, .kvmIntelNotLoaded])
        #expect(ordered.map(\.intelOnlyOnThisHost) == [false, false, true])
        // On an Intel host nothing is reordered or flagged.
        #expect(EligibilityReason.orderedForHost([module, perf]).map(\.intelOnlyOnThisHost) == [false, false])
    }
}
