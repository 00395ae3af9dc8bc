import LbrTestSupport
import Testing
@testable import LbrCore

/// The eligibility rules on recorded hosts (reference §2) and on single-fact mutations of them.
@Suite struct EligibilityTests {
    func codes(_ e: BackendEligibility) -> Set<EligibilityCode> { Set(e.blockers.map(\.code)) }

    @Test func skylakeSPWithLbrFormat5IsEligibleEverywhere() {
        let p = RecordedProfiles.skylakeSP
        let all = Eligibility.evaluate(p)
        #expect(all.map(\.backend) == [.hw, .hybrid, .sim])
        #expect(all.allSatisfy { $0.eligible }, "\(all.flatMap(\.blockers))")
        #expect(!all[0].has(.hostLbrFormatUnknown))
    }

    @Test func sapphireRapidsArchLbrIsNotEligible() {
        let hw = Eligibility.hw(RecordedProfiles.sapphireRapids)
        #expect(!hw.eligible)
        #expect(codes(hw) == [.archLbr, .kvmNoLbrFormat])
        #expect(Eligibility.hybrid(RecordedProfiles.sapphireRapids).eligible)
    }

    @Test func iceLakeWithEnablePmuOff() {
        let hw = Eligibility.hw(RecordedProfiles.iceLakeEnablePmuOff)
        #expect(codes(hw) == [.kvmPmuDisabled, .kvmNoLbrFormat, .kvmNoPdcm, .kvmNoArchPmu])
    }

    @Test func iceLakeWithMediatedPmu() {
        let hw = Eligibility.hw(RecordedProfiles.iceLakeMediated)
        #expect(codes(hw) == [.mediatedPmu, .kvmNoLbrFormat])
    }

    @Test func amdZen4IsNotIntel() throws {
        let hw = Eligibility.hw(RecordedProfiles.amdZen4)
        #expect(codes(hw) == [.notIntel, .kvmIntelNotLoaded, .kvmNoLbrFormat, .kvmNoPdcm, .kvmNoArchPmu])
        let notIntel = try #require(hw.blockers.first { $0.code == .notIntel })
        #expect(notIntel.message.contains("LbrExtV2"))
        #expect(hw.has(.hostLbrFormatUnknown))   // rdmsr 0x345 faults on AMD
        #expect(Eligibility.hybrid(RecordedProfiles.amdZen4).eligible)
    }

    @Test(arguments: RecordedProfiles.all.map(\.name))
    func simIsAlwaysEligibleAndEveryReasonIsComplete(name: String) throws {
        let p = try #require(RecordedProfiles.all.first { $0.name == name }?.profile)
        #expect(Eligibility.sim(p).eligible)
        for e in Eligibility.evaluate(p) {
            for r in e.blockers + e.caveats {
                #expect(!r.message.isEmpty)
                #expect(!r.reference.isEmpty)
            }
        }
    }

    // MARK: one fact at a time, starting from the eligible Skylake-SP host

    @Test func lbrFormatMismatchBlocks() {
        var p = RecordedProfiles.skylakeSP
        p.msr.perfCapabilities = .value(0x33c4)  // host format 4 vs KVM's 5
        #expect(codes(Eligibility.hw(p)) == [.lbrFormatMismatch])
    }

    @Test func missingMsrDriverIsACaveatNotABlocker() {
        var p = RecordedProfiles.skylakeSP
        p.msr.perfCapabilities = .unavailable(.absent("msr driver not loaded"))
        p.msr.debugctl = .unavailable(.absent("msr driver not loaded"))
        let hw = Eligibility.hw(p)
        #expect(hw.eligible)
        #expect(hw.has(.hostLbrFormatUnknown))
        #expect(hw.caveats.first { $0.code == .hostLbrFormatUnknown }?.message.contains("cannot be compared") == true)
    }

    @Test func privileges() {
        var p = RecordedProfiles.skylakeSP
        p.privileges = PrivilegeFacts(euid: 1000, effectiveCapabilities: .value(0))
        #expect(codes(Eligibility.hw(p)) == [.noPerfmonPrivilege])
        p.privileges = PrivilegeFacts(euid: 1000, effectiveCapabilities: .value(1 << 38))  // CAP_PERFMON only
        #expect(Eligibility.hw(p).eligible)
        p.privileges = PrivilegeFacts(euid: 1000, effectiveCapabilities: .value(0))
        p.perf.perfEventParanoid = .value(-1)
        #expect(Eligibility.hw(p).eligible)
    }

    @Test func perfNeedsACorePmuWithBranches() {
        var p = RecordedProfiles.skylakeSP
        p.perf.corePmus[0].branches = .unavailable(.absent("caps/branches does not exist"))
        #expect(codes(Eligibility.hw(p)) == [.noBranchSampling])
        p.perf.corePmus = []
        #expect(codes(Eligibility.hw(p)) == [.noCorePmu])
    }

    @Test func cpuModelRules() {
        var p = RecordedProfiles.skylakeSP
        p.cpuid = .value(p.cpuid.value!.map { e in
            var e = e
            if e.leaf == 1 { e.eax = CpuidDecode.signatureEAX(family: 6, model: 0x2a, stepping: 7) }  // Sandy Bridge
            return e
        })
        // §2.2: no call-stack mode is a caveat, not a blocker — KVM's supported PERF_CAPABILITIES decides.
        #expect(Eligibility.hw(p).eligible && Eligibility.hw(p).has(.noLbrCallStack))
        p.cpuid = .value(p.cpuid.value!.map { e in
            var e = e
            if e.leaf == 1 { e.eax = CpuidDecode.signatureEAX(family: 6, model: 0xcf, stepping: 2) }  // Emerald Rapids
            return e
        })
        #expect(codes(Eligibility.hw(p)) == [.unknownLbrLayout])
        p.cpuid = .unavailable(.unsupported("not x86"))
        #expect(codes(Eligibility.hw(p)) == [.cpuidUnavailable])
    }

    @Test func kvmModuleAndParameters() {
        var p = RecordedProfiles.skylakeSP
        p.kvm.parameters[0].value = .unavailable(Unavailable(.unreadable, "EACCES", errno: 13))
        #expect(codes(Eligibility.hw(p)) == [.kvmPmuUnknown])
        p = RecordedProfiles.skylakeSP
        p.kvm.modules = .value(["kvm", "kvm_pvm"])
        #expect(codes(Eligibility.hw(p)) == [.kvmIntelNotLoaded])
        p = RecordedProfiles.skylakeSP
        p.kvm.parameters[1].value = .value("Y")
        #expect(Eligibility.hw(p).eligible)
        #expect(Eligibility.hw(p).has(.ignoreMsrs))
        p.kvm.supportedPerfCapabilities = .unavailable(Unavailable(.unreadable, "KVM_GET_MSRS: EINVAL", errno: 22))
        #expect(codes(Eligibility.hw(p)) == [.kvmPerfCapsUnknown])
    }

    @Test func caveatsDoNotBlock() {
        var p = RecordedProfiles.skylakeSP
        p.perf.nmiWatchdog = .value(1)
        p.msr.debugctl = .value([CpuMsrValue(cpu: 0, value: 0), CpuMsrValue(cpu: 1, value: DebugCtl.lbr)])
        p.perf.kvmMsrTracepointId = .unavailable(.notProbed("tracefs is not mounted"))
        let hw = Eligibility.hw(p)
        #expect(hw.eligible)
        #expect(hw.has(.nmiWatchdogCounter) && hw.has(.firmwareDebugctlLbr) && hw.has(.noKvmMsrTracepoint))
        #expect(hw.caveats.first { $0.code == .firmwareDebugctlLbr }?.message.contains("CPU(s) 1") == true)
    }

    @Test func noKvmBlocksHwAndHybrid() {
        var p = RecordedProfiles.skylakeSP
        p.kvm.apiVersion = .unavailable(Unavailable(.absent, "open(/dev/kvm): ENOENT", errno: 2))
        #expect(codes(Eligibility.hw(p)).contains(.kvmUnavailable))
        #expect(codes(Eligibility.hybrid(p)) == [.kvmUnavailable])
        #expect(Eligibility.sim(p).eligible)
    }

    @Test func hybridNeedsEachCapability() {
        for (name, code) in [(Eligibility.capImmediateExit, EligibilityCode.noImmediateExit),
                             (Eligibility.capUserSpaceMsr, .noUserSpaceMsr), (Eligibility.capMsrFilter, .noMsrFilter)] {
            var p = RecordedProfiles.skylakeSP
            let i = p.kvm.capabilities.firstIndex { $0.name == name }!
            p.kvm.capabilities[i].value = .value(0)
            #expect(codes(Eligibility.hybrid(p)) == [code])
            p.kvm.capabilities.remove(at: i)
            #expect(codes(Eligibility.hybrid(p)) == [code])
        }
    }

    // MARK: §2.2, §5, §9.4

    @Test func callStackIsDecidedByKvmNotByAModelList() {
        // KVM before 6.10 offers LBR on Sandy Bridge: eligible, with the caveat.
        let old = Eligibility.hw(RecordedProfiles.sandyBridgeKvm69)
        #expect(old.eligible)
        #expect(old.caveats.first { $0.code == .noLbrCallStack }?.message.contains("vmx_lbr_caps.has_callstack") == true)
        // KVM >= 6.10 refuses itself: its supported PERF_CAPABILITIES has LBR format 0.
        let new = Eligibility.hw(RecordedProfiles.sandyBridgeKvm612)
        #expect(codes(new) == [.kvmNoLbrFormat])
        #expect(new.has(.noLbrCallStack))
    }

    @Test func tremontUsesTheSkylakeLayoutAndIsEligible() {
        let p = RecordedProfiles.tremontSnowRidge
        #expect(Eligibility.hw(p).eligible)
        #expect(!Eligibility.hw(p).has(.noLbrCallStack))
        #expect(p.cpu.map { LbrLayout.forIntel(family: $0.family, model: $0.model) } == .skylake)
    }

    @Test func counterExhaustionSizesFromFreeCounters() {
        let all = Eligibility.exhaustionContender(gp: 8, fixed: 3, nmiWatchdog: 0)
        #expect(all.contender == .counterExhaustion(gp: 8, fixed: 3))
        #expect(all.note.contains("all 8 GP + 3 fixed"))
        let wd = Eligibility.exhaustionContender(gp: 8, fixed: 3, nmiWatchdog: 1)
        #expect(wd.contender == .counterExhaustion(gp: 7, fixed: 3))
        #expect(wd.note.contains("nmi_watchdog=1") && wd.note.contains("collect_events"))
        #expect(wd.contender.attributes.count + 1 == 8 + 3)   // with the watchdog's event: exactly full
        #expect(Eligibility.exhaustionContender(gp: 8, fixed: 3, nmiWatchdog: nil).contender == .counterExhaustion(gp: 8, fixed: 3))
        #expect(Eligibility.exhaustionContender(gp: 0, fixed: 0, nmiWatchdog: 1).contender == .counterExhaustion(gp: 0, fixed: 0))
        var p = RecordedProfiles.skylakeSP
        p.perf.nmiWatchdog = .value(1)
        #expect(Eligibility.hw(p).caveats.first { $0.code == .nmiWatchdogCounter }?.message.contains("one GP event fewer") == true)
    }
}
