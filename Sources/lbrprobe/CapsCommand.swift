import ArgumentParser
import LbrCore
import LbrLinux
import LbrReport

/// Output formats of `caps`.
enum CapsFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `lbrprobe caps`: the host capability report and per-backend eligibility.
struct Caps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report every LBR-relevant host capability and which backends (hw, hybrid, sim) can run here.",
        discussion: """
            Every value is read from this machine (CPUID, sysfs/procfs, /dev/cpu/N/msr read-only, /dev/kvm,
            libnuma). A value that cannot be read is shown as unavailable with the reason. The JSON format is
            documented in docs/caps-format.md (schema lbrprobe.caps/1). Exit status is 0 whatever the host offers (74 when standard output cannot be written).
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output format: \(CapsFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var format: CapsFormat = .text

    @Flag(inversion: .prefixedNo,
          help: "When tracefs is not mounted and lbrprobe runs as root, mount it at /sys/kernel/tracing (reported).")
    var mountTracefs = true

    func run() throws {
        let logger = global.makeLogger("lbrprobe.caps")
        let profile = HostProbe(mountTracefs: mountTracefs, logger: logger).probe()
        let eligibility = Eligibility.evaluate(profile)
        switch format {
        case .text: try OutputTargets.emit(CapsReport.text(profile, eligibility: eligibility))
        case .json: try OutputTargets.emit(try CapsJSON.encode(profile, eligibility: eligibility, toolVersion: LbrProbe.version))
        }
    }
}
