// Hostile inputs and output paths at the library level: the output target rules of AtomicFile (kernel link
// protection, unpredictable O_EXCL temporaries, targets refused up front, outputs that are inputs), bounded
// reads, range checks of run documents, the timeline's bounded axis, streamed KCIDB, control characters.

import Foundation
import LbrCore
import LbrDocument
import LbrReport
import LbrScenarios
import LbrTestSupport
import Testing

@Suite struct OutputTargetRuleTests {
    func tmpDir() -> String {
        let d = NSTemporaryDirectory() + "lbrprobe-targets-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func temporaryNamesAreUnpredictableAndFitNameMax() {
        let a = AtomicFile.temporaryName(for: "r.json"), b = AtomicFile.temporaryName(for: "r.json")
        #expect(a != b && a.hasPrefix(".r.json.") && a.hasSuffix(".tmp"))
        #expect(a.utf8.count == "r.json".utf8.count + AtomicFile.temporaryOverhead)
        #expect(!a.contains("\(getpid())") || a != b)
    }

    @Test func targetsThatCannotTakeAReportAreRefusedBeforeAnyWrite() throws {
        let d = tmpDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        func refused(_ p: String) -> String? { if case let .refused(why) = AtomicFile.classify(p) { return why }; return nil }
        #expect(refused("")?.contains("empty path") == true)
        #expect(refused(d + "/x/")?.contains("ends with '/'") == true)
        #expect(refused(d + "/nodir/x.xml")?.contains("does not exist") == true)
        #expect(refused(d)?.contains("directory") == true)
        #expect(refused(d + "/" + String(repeating: "a", count: 245))?.contains("NAME_MAX") == true)
        #expect(refused(d + "/" + String(repeating: "a", count: 233)) == nil)
        symlink(d + "/nowhere", d + "/dangling")
        #expect(refused(d + "/dangling")?.contains("dangling") == true)
        // A Unix socket: refused (lbrprobe does not connect to sockets).
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un(); addr.sun_family = sa_family_t(AF_UNIX)
        let sp = d + "/sock"
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in for (i, b) in sp.utf8.enumerated() where i < buf.count - 1 { buf[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        defer { close(s) }
        if bound == 0 { #expect(refused(sp)?.contains("socket") == true) }
        // A descriptor this process opened itself (close-on-exec) is never a report target; one it was given is.
        let own = open(d, O_RDONLY | O_CLOEXEC)
        defer { close(own) }
        #expect(refused("/dev/fd/\(own)")?.contains("opened itself") == true)
        let given = dup(own) // dup clears FD_CLOEXEC: like an inherited descriptor
        defer { close(given) }
        #expect(AtomicFile.classify("/dev/fd/\(given)") == .descriptor(given))
        #expect(refused("/dev/fd/987")?.contains("not open") == true)
        // Nothing was created by classifying.
        #expect(try FileManager.default.contentsOfDirectory(atPath: d).sorted() == ["dangling", "sock"].filter { $0 != "sock" || bound == 0 })
    }

    @Test func outputThatIsAnInputIsRecognisedByInodeWhateverTheSpelling() throws {
        let d = tmpDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let p = d + "/m.expect"
        try "x\n".write(toFile: p, atomically: false, encoding: .utf8)
        link(p, d + "/hard")
        symlink(p, d + "/soft")
        #expect(AtomicFile.outputIsInput(p, p))
        #expect(AtomicFile.outputIsInput(d + "/../" + (d as NSString).lastPathComponent + "/m.expect", p))
        #expect(AtomicFile.outputIsInput(d + "/hard", p))
        #expect(AtomicFile.outputIsInput(d + "/soft", p))
        #expect(!AtomicFile.outputIsInput(d + "/other", p))
        #expect(!AtomicFile.outputIsInput("/dev/null", "/dev/null")) // devices destroy nothing
        #expect(!AtomicFile.outputIsInput(p, "-"))
    }

    /// The kernel's fs.protected_symlinks rule, for a link owned by another user in a sticky world-writable
    /// directory (making one needs root: lchown). The link's target stays intact.
    @Test(.enabled(if: getuid() == 0, "needs root to give a symbolic link another owner (lchown)"))
    func aLinkAnotherUserPlantedInAStickyDirectoryIsNotFollowed() throws {
        let d = tmpDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let sticky = d + "/sh", secret = d + "/secret.conf"
        mkdir(sticky, 0o777); chmod(sticky, 0o1777)
        try "root only\n".write(toFile: secret, atomically: false, encoding: .utf8)
        let link = sticky + "/junit.xml"
        symlink(secret, link)
        lchown(link, 65534, 65534)
        #expect(AtomicFile.protectedLink(link))
        guard case let .refused(why) = AtomicFile.classify(link) else { Issue.record("followed"); return }
        #expect(why.contains("fs.protected_symlinks"))
        #expect(throws: ReportWriteError.self) { try AtomicFile.write("<xml/>\n", to: link) }
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "root only\n")
        // The same link owned by this user is followed (the target replaced, the link kept).
        lchown(link, 0, 0)
        try AtomicFile.write("mine\n", to: link)
        #expect(try String(contentsOfFile: secret, encoding: .utf8) == "mine\n")
        #expect(AtomicFile.protectedLink(link) == false)
    }

    @Test func runningOutOfSpaceIsAWriteFailure() {
        #expect(!ReportWriteError(path: "p", operation: "create", errno: ENOSPC).isCreateFailure)
        #expect(!ReportWriteError(path: "p", operation: "rename", errno: EDQUOT).isCreateFailure)
        #expect(ReportWriteError(path: "p", operation: "create", errno: EACCES).isCreateFailure)
        #expect(ReportWriteError(path: "p", operation: "write", errno: ENOSPC).description.contains("ENOSPC"))
    }
}

@Suite struct BoundedInputTests {
    @Test func readsAreCappedAndFailInOneLine() throws {
        let p = NSTemporaryDirectory() + "lbrprobe-bounded-\(UUID().uuidString)"
        defer { unlink(p) }
        try String(repeating: "{", count: 5000).write(toFile: p, atomically: false, encoding: .utf8)
        #expect(try BoundedInput.read(p, limit: 5000, what: "a document").count == 5000)
        #expect(throws: BoundedInput.Failure.self) { try BoundedInput.read(p, limit: 4999, what: "a document") }
        do { _ = try BoundedInput.read("/dev/zero", limit: 1 << 20, what: "a document"); Issue.record("read /dev/zero whole") }
        catch { #expect(error.message.contains("more than")) }
        do {
            _ = try BoundedInput.read("/dev/zero", limit: 1 << 30, what: "a document",
                                      firstByte: { $0 == UInt8(ascii: "{") ? nil : "starts with \(BoundedInput.byteText($0))" })
            Issue.record("accepted /dev/zero")
        } catch { #expect(error.message == "starts with 0x00") }
        do { _ = try BoundedInput.read(p + ".missing", limit: 10, what: "x"); Issue.record("read a missing file") }
        catch { #expect(error.message == "cannot read: No such file or directory (errno 2)") }
        do { _ = try BoundedInput.read("/", limit: 10, what: "a run document"); Issue.record("read a directory") }
        catch { #expect(error.message == "is a directory, not a run document") }
        #expect(BoundedInput.isStandardInput("-") && BoundedInput.isStandardInput("/dev/stdin"))
    }
}

@Suite struct RunDocumentRangeTests {
    func document() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try JsonReport.render(Fixtures.mixedReport()).utf8)) as! [String: Any]
    }
    func decode(_ obj: [String: Any]) throws(RunDocumentError) -> JsonReport.RunDocument {
        try RunDocumentReader.decode(try! JSONSerialization.data(withJSONObject: obj), source: "crafted.json")
    }

    @Test func numbersOutOfRangeAreMalformedDocumentsNotTraps() throws {
        var d = try document()
        d["duration_ms"] = 1e19
        do { _ = try decode(d); Issue.record("accepted duration_ms 1e19") } catch {
            #expect(error.exitCode == .dataError && error.message.contains("duration_ms") && !error.message.contains("\n"))
        }
        d = try document()
        var results = d["results"] as! [[String: Any]]
        results[0]["repeat"] = Int.max
        d["results"] = results
        do { _ = try decode(d); Issue.record("accepted repeat Int.max") } catch { #expect(error.message.contains("results[0].repeat")) }
        d = try document()
        results = d["results"] as! [[String: Any]]
        results[0]["timeline"] = [["t_ns": 0, "dur_ns": UInt64(1) << 62 + 1, "lane": "phase", "label": "x"]]
        d["results"] = results
        do { _ = try decode(d); Issue.record("accepted dur_ns 2^62+1") } catch { #expect(error.message.contains("dur_ns")) }
        #expect(RunDocumentLimits.check(try decode(try document())) == nil)
    }

    /// compare reads documents through a projection: a crafted duration reaches its statistics unchecked.
    @Test func compareSurvivesHugeDurations() throws {
        var d = try document()
        var results = d["results"] as! [[String: Any]]
        for i in results.indices { results[i]["duration_ms"] = 1e300 }
        d["results"] = results
        let data = try JSONSerialization.data(withJSONObject: d)
        let input = try Compare.decode(data, source: "crafted.json")
        let report = try Compare.run([input, input])
        #expect(!(try Compare.render(report, format: .text)).isEmpty)
    }

    /// Enough huge durations for compare's timing quartiles (found by the rundoc-struct fuzz target: a duration of
    /// 1e19 ms, saturated, overflowed the histogram): compare still renders.
    @Test func compareSurvivesHugeDurationsInItsTimingQuartiles() throws {
        var d = try document()
        var results = d["results"] as! [[String: Any]]
        let first = results[0]
        results = Array(repeating: first, count: Compare.timingMinRuns + 2).enumerated().map { i, r in
            var r = r
            r["repeat"] = i + 1
            r["duration_ms"] = i % 2 == 0 ? 1e19 : 1e300
            return r
        }
        d["results"] = results
        d["repeats"] = results.count
        let data = try JSONSerialization.data(withJSONObject: d)
        let input = try Compare.decode(data, source: "crafted.json")
        let report = try Compare.run([input, input])
        #expect(!(try Compare.render(report, format: .text)).isEmpty)
        // Recorded as 2^62 (the histogram reports its bucket's top, within 3 significant digits).
        let p = try #require(RepeatStatistics.percentiles([UInt64.max, 1], unit: "ns", scale: 1))
        #expect(p.max >= Double(RepeatStatistics.maxRecordable) && p.max < 4.7e18)
    }

    @Test func timelineTicksAreBoundedByThePictureNotByTime() throws {
        var d = try document()
        var results = d["results"] as! [[String: Any]]
        results[0]["timeline"] = [["t_ns": 0, "dur_ns": UInt64(1) << 62, "lane": "phase", "label": "long"],
                                  ["t_ns": 1_000_000_000_000_000 as UInt64, "lane": "outcome", "label": "end"]]
        results[0]["timeline_clock"] = "model"
        d["results"] = results
        let svg = TimelineSvg.render(try decode(d))
        #expect(svg.utf8.count < 2_000_000)
    }

    @Test func controlCharactersNeverReachATextOutput() throws {
        var d = try document()
        var host = d["host"] as? [String: Any] ?? ["kernel_release": "6.1"]
        host["hostname"] = "evil\u{1b}]0;t\u{07}\u{1b}[2J\r"
        d["host"] = host
        let doc = try decode(d)
        for f in [ContractFormat.markdown, .rst] {
            let text = ReportSupport.withoutControls(try Contract.render([doc], models: [], format: f))
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" || $0.value == 0x7f })
        }
        #expect(ReportSupport.withoutControls("a\u{1b}[2Jb\u{07}\u{9b}c\td\n") == "a?[2Jb??c\td\n")
        #expect(!TimelineSvg.render(doc).unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 })
    }
}

@Suite struct StreamedKcidbTests {
    @Test func streamedKcidbIsByteIdenticalToTheWholeDocument() throws {
        for report in [Fixtures.mixedReport(), Fixtures.unavailableReport()] {
            let whole = try KcidbReport.render(report, buildId: "lbrprobe:6.1", origin: "farm_1")
            var streamed = ""
            try KcidbReport.render(report, buildId: "lbrprobe:6.1", origin: "farm_1") { streamed += $0 }
            #expect(streamed == whole)
        }
    }
}
