/// JSON string literals written by hand (manifests, `_rescued_data`): one escaper for bytes and text.
public enum JSONText {
    /// Appends `"…"` with `"`, `\\` and control characters escaped; other bytes (UTF-8) as they are.
    public static func appendString(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for c in bytes {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), c]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 0xf)]]
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    public static func string(_ text: String) -> String {
        var out: [UInt8] = []
        var text = text
        text.withUTF8 { appendString($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }
}
