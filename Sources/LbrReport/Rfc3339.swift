// RFC 3339 timestamps for run documents and farm outputs.

extension ReportSupport {
    /// RFC 3339 UTC timestamp with millisecond precision for Unix nanoseconds (proleptic Gregorian).
    public static func rfc3339(unixNs: UInt64) -> String {
        let secs = Int64(unixNs / 1_000_000_000)
        let ms = Int((unixNs / 1_000_000) % 1000)
        var days = secs / 86_400
        let rem = Int(secs % 86_400)
        // civil_from_days (Howard Hinnant).
        days += 719_468
        let era = days / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func p(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(Int64(rem / 3600), 2)):\(p(Int64(rem / 60 % 60), 2)):\(p(Int64(rem % 60), 2)).\(p(Int64(ms), 3))Z"
    }
}
