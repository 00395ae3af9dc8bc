import LbrTestSupport
import Foundation
import LbrCore
import Testing
@testable import LbrReport

@Suite struct CapsReportTests {
    @Test(arguments: RecordedProfiles.all.map(\.name))
    func textReportShowsEveryRowAndEveryReason(name: String) throws {
        let p = try #require(RecordedProfiles.all.first { $0.name == name }?.profile)
        let elig = Eligibility.evaluate(p)
        let text = CapsReport.text(p, eligibility: elig)
        for row in CapsReport.rows(p) {
            #expect(text.contains(row.key), "\(row.key)")
            #expect(text.contains(row.value), "\(row.value)")
            #expect(text.contains(row.explanation), "\(row.explanation)")
            if let reason = row.reason { #expect(text.contains("reason: \(reason)")) }
            #expect(row.value.hasPrefix("unavailable") == (row.reason != nil), "\(row.key)")
        }
        for e in elig {
            #expect(text.contains(e.eligible ? "eligible" : "NOT eligible"))
            for r in e.blockers { #expect(text.contains("no:  [\(r.code.rawValue)] \(r.message)")) }
            for r in e.caveats { #expect(text.contains("but: [\(r.code.rawValue)] \(r.message)")) }
        }
    }

    @Test func rowsCarryTheDecodedFacts() {
        let rows = CapsReport.rows(RecordedProfiles.skylakeSP)
        func value(_ key: String) -> String? { rows.first { $0.key == key }?.value }
        #expect(value("vendor") == "GenuineIntel")
        #expect(value("family/model/stepping") == "6 / 0x55 / 4 (Skylake-SP/Cascade Lake/Cooper Lake)")
        #expect(value("PERF_CAPABILITIES") == "0x33c5: LBR format 5 (LBR_FORMAT_INFO)")
        #expect(value("supported PERF_CAPABILITIES") == "0x2005: LBR format 5 (LBR_FORMAT_INFO)")
        #expect(value("LBR layout")?.hasPrefix("32 x 0x680/0x6c0, info 0xdc0") == true)
        #expect(value("online CPUs") == "0-7 (8)")
        #expect(value("NUMA nodes") == "node0: 0-3; node1: 4-7")
        #expect(value("kvm.enable_pmu") == "Y")
        let spr = CapsReport.rows(RecordedProfiles.sapphireRapids)
        #expect(spr.first { $0.key == "arch LBR" }?.value == "yes, depths 8,16,24,32, call-stack yes")
        #expect(spr.first { $0.key == "supported PERF_CAPABILITIES" }?.value == "0x2000: no LBR format (no guest LBR)")
        let amd = CapsReport.rows(RecordedProfiles.amdZen4)
        #expect(amd.first { $0.key == "AMD 0x80000022" }?.value.contains("LbrExtV2 yes, LBR stack 16") == true)
        #expect(amd.first { $0.key == "PERF_CAPABILITIES" }?.reason?.contains("not implemented") == true)
    }

    @Test func tableColumnsAreAligned() {
        let text = CapsReport.text(RecordedProfiles.skylakeSP, eligibility: Eligibility.evaluate(RecordedProfiles.skylakeSP))
        let rows = CapsReport.rows(RecordedProfiles.skylakeSP)
        let keyWidth = rows.map(\.key.count).max()!
        let lines = text.split(separator: "\n").map(String.init)
        // Every row line starts its value right after the key column.
        for row in rows where row.value.count <= 44 {
            let line = lines.first { $0.hasPrefix("  \(row.key)  ") && $0.contains(row.explanation) }
            #expect(line != nil, "\(row.key)")
            if let line {
                let valueStart = line.index(line.startIndex, offsetBy: 2 + keyWidth + 2)
                #expect(line[valueStart...].hasPrefix(row.value), "\(row.key)")
            }
        }
    }

    @Test func jsonRoundTripsAndCarriesTheSchema() throws {
        for (name, p) in RecordedProfiles.all {
            let elig = Eligibility.evaluate(p)
            let json = try CapsJSON.encode(p, eligibility: elig, toolVersion: "test")
            let doc = try CapsJSON.decode(json)
            #expect(doc.schema == "lbrprobe.caps/1")
            #expect(doc.host == p, "\(name)")
            #expect(doc.eligibility == elig)
            #expect(doc.cpu == p.cpu)
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let e = try #require(obj["eligibility"] as? [[String: Any]])
            #expect(e.map { $0["eligible"] as? Bool } == elig.map(\.eligible))
        }
        let bad = try CapsJSON.encode(RecordedProfiles.skylakeSP, eligibility: [], toolVersion: "x")
            .replacingOccurrences(of: "lbrprobe.caps/1", with: "lbrprobe.caps/9")
        #expect(throws: DecodingError.self) { try CapsJSON.decode(bad) }
    }

    @Test func unavailableValuesEncodeWithKindAndErrno() throws {
        var p = RecordedProfiles.skylakeSP
        p.kvm.apiVersion = .unavailable(Unavailable(.unreadable, "open(/dev/kvm): Permission denied", errno: 13))
        let json = try CapsJSON.encode(p, eligibility: Eligibility.evaluate(p), toolVersion: "t")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let api = ((obj["host"] as? [String: Any])?["kvm"] as? [String: Any])?["apiVersion"] as? [String: Any]
        let u = try #require(api?["unavailable"] as? [String: Any])
        #expect(u["kind"] as? String == "unreadable")
        #expect(u["errno"] as? Int == 13)
        #expect(api?["value"] == nil)
    }

    /// Every document validates against docs/caps.schema.json (the real jsonschema package, through
    /// LbrTestSupport's SchemaValidator) — keeps the published schema and the encoder in step.
    @Test(arguments: RecordedProfiles.all.map(\.name))
    func documentsMatchThePublishedSchema(name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/caps.schema.json")
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let p = try #require(RecordedProfiles.all.first { $0.name == name }?.profile)
        let json = try CapsJSON.encode(p, eligibility: Eligibility.evaluate(p), toolVersion: "t")
        let doc = try JSONSerialization.jsonObject(with: Data(json.utf8))
        let errors = try SchemaValidator(schema: schema).validate(doc)
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        // The validator does reject: drop a required key.
        var broken = try #require(doc as? [String: Any])
        broken.removeValue(forKey: "tool")
        #expect(try SchemaValidator(schema: schema).validate(broken).contains { $0.contains("'tool' is a required property") })
    }
}
