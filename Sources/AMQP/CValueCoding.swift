// Conversions between Swift values and librabbitmq's C structures. Outgoing values are
// built in a `CArena` that owns every byte until the C call that reads them returns;
// incoming values are copied into Swift before librabbitmq recycles its buffers.
internal import CRabbitMQ
import Foundation

/// Owns the C memory for one outgoing call (strings, table entries, arrays). Free it after
/// the call with ``release()``; nothing it returned may be used afterwards.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit { release() }

    func release() {
        for block in blocks { free(block) }
        blocks.removeAll()
    }

    /// The bytes of a string, without a terminating NUL (AMQP strings are length-prefixed).
    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { bytes($0.baseAddress, $0.count) }
    }

    func bytes(_ data: some ContiguousBytes) -> amqp_bytes_t {
        data.withUnsafeBytes { bytes($0.baseAddress, $0.count) }
    }

    /// A NUL-terminated copy, for the few calls that take `const char *`.
    func cString(_ string: String) -> UnsafePointer<CChar> {
        let copy = strdup(string)!
        blocks.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    private func bytes(_ base: UnsafeRawPointer?, _ count: Int) -> amqp_bytes_t {
        guard count > 0, let base else { return amqp_empty_bytes }
        let block = malloc(count)!
        block.copyMemory(from: base, byteCount: count)
        blocks.append(block)
        return amqp_bytes_t(len: count, bytes: block)
    }

    func table(_ table: AMQPTable?) -> amqp_table_t {
        guard let table, !table.isEmpty else { return amqp_empty_table }
        let entries = allocate(amqp_table_entry_t.self, count: table.count)
        // Sorted keys: the wire order is then stable, which helps tests and diffs.
        for (index, key) in table.keys.sorted().enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: field(table[key]!))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }
        switch value {
        case .bool(let v):
            field.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            field.value.boolean = v ? 1 : 0
        case .int8(let v):
            field.kind = kind(AMQP_FIELD_KIND_I8)
            field.value.i8 = v
        case .uint8(let v):
            field.kind = kind(AMQP_FIELD_KIND_U8)
            field.value.u8 = v
        case .int16(let v):
            field.kind = kind(AMQP_FIELD_KIND_I16)
            field.value.i16 = v
        case .uint16(let v):
            field.kind = kind(AMQP_FIELD_KIND_U16)
            field.value.u16 = v
        case .int32(let v):
            field.kind = kind(AMQP_FIELD_KIND_I32)
            field.value.i32 = v
        case .uint32(let v):
            field.kind = kind(AMQP_FIELD_KIND_U32)
            field.value.u32 = v
        case .int64(let v):
            field.kind = kind(AMQP_FIELD_KIND_I64)
            field.value.i64 = v
        case .float(let v):
            field.kind = kind(AMQP_FIELD_KIND_F32)
            field.value.f32 = v
        case .double(let v):
            field.kind = kind(AMQP_FIELD_KIND_F64)
            field.value.f64 = v
        case .decimal(let scale, let v):
            field.kind = kind(AMQP_FIELD_KIND_DECIMAL)
            field.value.decimal = amqp_decimal_t(decimals: scale, value: v)
        case .string(let v):
            field.kind = kind(AMQP_FIELD_KIND_UTF8)
            field.value.bytes = bytes(v)
        case .bytes(let v):
            field.kind = kind(AMQP_FIELD_KIND_BYTES)
            field.value.bytes = bytes(v)
        case .timestamp(let date):
            field.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            field.value.u64 = wireSeconds(date)
        case .table(let t):
            field.kind = kind(AMQP_FIELD_KIND_TABLE)
            field.value.table = table(t)
        case .array(let values):
            field.kind = kind(AMQP_FIELD_KIND_ARRAY)
            if values.isEmpty {
                field.value.array = amqp_empty_array
            } else {
                let items = allocate(amqp_field_value_t.self, count: values.count)
                for (index, item) in values.enumerated() { items[index] = self.field(item) }
                field.value.array = amqp_array_t(num_entries: Int32(values.count), entries: items)
            }
        case .void:
            field.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return field
    }

    func properties(_ p: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: Int32 = 0
        func set(_ value: String?, _ flag: Int32, _ keyPath: WritableKeyPath<amqp_basic_properties_t, amqp_bytes_t>) {
            guard let value else { return }
            c[keyPath: keyPath] = bytes(value)
            flags |= flag
        }
        set(p.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG, \.content_type)
        set(p.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG, \.content_encoding)
        set(p.correlationID, AMQP_BASIC_CORRELATION_ID_FLAG, \.correlation_id)
        set(p.replyTo, AMQP_BASIC_REPLY_TO_FLAG, \.reply_to)
        set(p.expiration, AMQP_BASIC_EXPIRATION_FLAG, \.expiration)
        set(p.messageID, AMQP_BASIC_MESSAGE_ID_FLAG, \.message_id)
        set(p.type, AMQP_BASIC_TYPE_FLAG, \.type)
        set(p.userID, AMQP_BASIC_USER_ID_FLAG, \.user_id)
        set(p.appID, AMQP_BASIC_APP_ID_FLAG, \.app_id)
        set(p.clusterID, AMQP_BASIC_CLUSTER_ID_FLAG, \.cluster_id)
        if let headers = p.headers {
            c.headers = table(headers)
            flags |= AMQP_BASIC_HEADERS_FLAG
        }
        if let mode = p.deliveryMode {
            c.delivery_mode = mode.rawValue
            flags |= AMQP_BASIC_DELIVERY_MODE_FLAG
        }
        if let priority = p.priority {
            c.priority = priority
            flags |= AMQP_BASIC_PRIORITY_FLAG
        }
        if let timestamp = p.timestamp {
            c.timestamp = wireSeconds(timestamp)
            flags |= AMQP_BASIC_TIMESTAMP_FLAG
        }
        c._flags = amqp_flags_t(UInt32(bitPattern: flags))
        return c
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: count)
        blocks.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }
}

/// Seconds since 1970 as an AMQP timestamp, saturating: a received timestamp of 2^64 - 1 comes
/// back from `Double` as 2^64, which `UInt64(_:)` would trap on (a copy of a hostile message
/// must never stop the process that routes it); NaN and negative times are 0.
func wireSeconds(_ date: Date) -> UInt64 {
    let seconds = date.timeIntervalSince1970.rounded(.down)
    guard seconds > 0 else { return 0 }  // also NaN
    guard seconds < 18_446_744_073_709_549_568 else { return .max }  // the largest Double below 2^64
    return UInt64(seconds)
}

// MARK: - Incoming values

extension String {
    /// Copies AMQP bytes as UTF-8 text (invalid sequences are repaired, never trapped on).
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

extension Data {
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = Data()
            return
        }
        self = Data(bytes: base, count: bytes.len)
    }
}

enum CDecoding {
    /// A table as Swift values. A table or array nested deeper than
    /// ``AMQPFieldValue/maximumNesting`` levels becomes `.void` (the publisher's, never ours:
    /// converting it whole would recurse once per level on the connection thread's stack).
    static func table(_ table: amqp_table_t, depth: Int = 0) -> AMQPTable {
        var result: AMQPTable = [:]
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[String(amqp: entry.key)] = field(entry.value, depth: depth + 1)
        }
        return result
    }

    /// One value; `depth` counts the tables and arrays around it.
    static func field(_ field: amqp_field_value_t, depth: Int = 0) -> AMQPFieldValue {
        let v = field.value
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(v.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int8(v.i8)
        case AMQP_FIELD_KIND_U8.rawValue: return .uint8(v.u8)
        case AMQP_FIELD_KIND_I16.rawValue: return .int16(v.i16)
        case AMQP_FIELD_KIND_U16.rawValue: return .uint16(v.u16)
        case AMQP_FIELD_KIND_I32.rawValue: return .int32(v.i32)
        case AMQP_FIELD_KIND_U32.rawValue: return .uint32(v.u32)
        case AMQP_FIELD_KIND_I64.rawValue: return .int64(v.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return v.u64 <= UInt64(Int64.max) ? .int64(Int64(v.u64)) : .double(Double(v.u64))
        case AMQP_FIELD_KIND_F32.rawValue: return .float(v.f32)
        case AMQP_FIELD_KIND_F64.rawValue: return .double(v.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue: return .decimal(scale: v.decimal.decimals, value: v.decimal.value)
        case AMQP_FIELD_KIND_UTF8.rawValue: return .string(String(amqp: v.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue:
            guard v.bytes.len > 0, let base = v.bytes.bytes else { return .bytes([]) }
            return .bytes(Array(UnsafeRawBufferPointer(start: base, count: v.bytes.len)))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: return .timestamp(Date(timeIntervalSince1970: TimeInterval(v.u64)))
        case AMQP_FIELD_KIND_TABLE.rawValue:
            guard depth < AMQPFieldValue.maximumNesting else { return .void }
            return .table(table(v.table, depth: depth))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            guard depth < AMQPFieldValue.maximumNesting else { return .void }
            guard v.array.num_entries > 0, let entries = v.array.entries else { return .array([]) }
            return .array((0..<Int(v.array.num_entries)).map { self.field(entries[$0], depth: depth + 1) })
        default: return .void
        }
    }

    static func properties(_ c: amqp_basic_properties_t) -> AMQPProperties {
        let flags = Int32(bitPattern: UInt32(c._flags))
        func get(_ flag: Int32, _ value: amqp_bytes_t) -> String? {
            flags & flag != 0 ? String(amqp: value) : nil
        }
        var p = AMQPProperties()
        p.contentType = get(AMQP_BASIC_CONTENT_TYPE_FLAG, c.content_type)
        p.contentEncoding = get(AMQP_BASIC_CONTENT_ENCODING_FLAG, c.content_encoding)
        p.correlationID = get(AMQP_BASIC_CORRELATION_ID_FLAG, c.correlation_id)
        p.replyTo = get(AMQP_BASIC_REPLY_TO_FLAG, c.reply_to)
        p.expiration = get(AMQP_BASIC_EXPIRATION_FLAG, c.expiration)
        p.messageID = get(AMQP_BASIC_MESSAGE_ID_FLAG, c.message_id)
        p.type = get(AMQP_BASIC_TYPE_FLAG, c.type)
        p.userID = get(AMQP_BASIC_USER_ID_FLAG, c.user_id)
        p.appID = get(AMQP_BASIC_APP_ID_FLAG, c.app_id)
        p.clusterID = get(AMQP_BASIC_CLUSTER_ID_FLAG, c.cluster_id)
        if flags & AMQP_BASIC_HEADERS_FLAG != 0 { p.headers = table(c.headers) }
        if flags & AMQP_BASIC_DELIVERY_MODE_FLAG != 0 {
            p.deliveryMode = AMQPProperties.DeliveryMode(rawValue: c.delivery_mode)
        }
        if flags & AMQP_BASIC_PRIORITY_FLAG != 0 { p.priority = c.priority }
        if flags & AMQP_BASIC_TIMESTAMP_FLAG != 0 {
            p.timestamp = Date(timeIntervalSince1970: TimeInterval(c.timestamp))
        }
        return p
    }
}

extension timeval {
    init(_ duration: Duration) {
        let micros = max(0, Int64(duration.seconds * 1_000_000))
        self.init(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }
}

/// librabbitmq's text for a status code.
func amqpStatusText(_ status: Int32) -> String {
    String(cString: amqp_error_string2(status))
}
