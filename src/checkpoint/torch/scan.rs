//! A read-only walk over a pickle's opcodes, run before the pickle is parsed.
//!
//! It is not an interpreter: it keeps no object stack, only what it needs to answer two
//! questions the tensor reader cannot. Which globals does the pickle name (each must be on
//! the state-dict allowlist, so a file that would call `os.system` under `torch.load` is
//! refused by name), in what order do its strings first appear (a state dict's keys are
//! pickled in the dict's order, which the reader's map forgets), and how large does each
//! storage claim to be (checked against the archive before anything is read).

use std::collections::HashMap;

/// What one pickle holds, as far as the checks need.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every string literal, in stream order (repeats included; only the first counts).
    pub strings: Vec<String>,
    /// The storages the pickle's persistent ids name, with the sizes they claim.
    pub storages: Vec<StorageClaim>,
    /// Byte offset just past the pickle's `STOP`.
    pub end: usize,
}

/// A storage as a persistent id declares it: its key (`data/KEY` in a ZIP checkpoint), its
/// element count, and its element size when the storage class is one torch writes.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageClaim {
    pub key: String,
    pub numel: i64,
    pub element_size: Option<usize>,
}

/// Why a pickle was refused.
#[derive(Debug, PartialEq)]
pub enum ScanError {
    /// An opcode is unknown or malformed: the file is damaged.
    Malformed(String),
    /// The bytes end before the pickle does: the file is cut short, or (for a caller that
    /// scans a prefix of it) more of it is needed.
    Truncated(String),
    /// The pickle names something a state dict never holds.
    Forbidden(String),
    /// Reading the pickle would take more memory than its budget (see [`budget_for`]).
    OverBudget { budget: usize },
}

/// Memory a pickle stored in `stored` bytes of its file may take to read: 16 MiB plus 64 times
/// those bytes. A state dict's pickle takes a few times its own length; a flood of MARKs,
/// memo entries or copies of one long string, deflated into a small file, takes far more,
/// in this walk and again in the reader after it, and is refused before either allocates it.
pub fn budget_for(stored: usize) -> usize {
    (16usize << 20).saturating_add(stored.saturating_mul(64))
}

/// What the walk has allocated, counted against its budget. Every allocation is counted, none
/// freed: a bound on the peak that a legitimate pickle stays far below.
struct Meter {
    left: usize,
    budget: usize,
}

impl Meter {
    fn charge(&mut self, bytes: usize) -> Result<(), ScanError> {
        self.left = self.left.checked_sub(bytes).ok_or(ScanError::OverBudget { budget: self.budget })?;
        Ok(())
    }

    /// One value on the stack (and its string, copied into the strings list too).
    fn value(&mut self, value: &Value) -> Result<(), ScanError> {
        let text = if let Value::Str(s) = value { 2 * s.len() } else { 0 };
        self.charge(std::mem::size_of::<Value>() + text)
    }
}

/// The globals `torch.load(weights_only=True)` accepts by default (torch 2.x's
/// `_get_allowed_globals`: containers, tensor rebuilding, storage, tensor and dtype classes),
/// plus the NumPy scalars training scripts store as accuracies, timm's `argparse.Namespace`
/// (built as an inert object, as the reader builds every class) and `collections.defaultdict`
/// with the builtin factories it names (`defaultdict(list)`, `defaultdict(dict)`). Nothing here is ever called;
/// the list only decides what is refused.
fn allowed(module: &str, name: &str) -> bool {
    match module {
        // A defaultdict's factory is never called: the reader builds the dict without it.
        "collections" => matches!(name, "OrderedDict" | "Counter" | "defaultdict"),
        "builtins" | "__builtin__" => {
            matches!(name, "set" | "frozenset" | "bytearray" | "complex" | "dict" | "list" | "int" | "float")
        }
        // What training scripts keep beside their state dicts: timm's `args`.
        "argparse" => name == "Namespace",
        "_codecs" => name == "encode",
        "torch._utils" => name.starts_with("_rebuild_"),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch.nn.parameter" => name == "Parameter",
        "torch.serialization" => name == "_get_layout",
        "torch" => {
            name.ends_with("Storage")
                || name.ends_with("Tensor")
                || matches!(name, "Size" | "device")
                || is_torch_dtype(name)
        }
        "torch.cuda" => name.ends_with("Storage") || name.ends_with("Tensor"),
        // Tensors of the newer unsigned types are saved on an untyped (byte) storage.
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage"),
        "numpy.core.multiarray" | "numpy._core.multiarray" => matches!(name, "scalar" | "_reconstruct"),
        "numpy" => matches!(name, "dtype" | "ndarray"),
        _ => false,
    }
}

fn is_torch_dtype(name: &str) -> bool {
    matches!(
        name,
        "float64"
            | "float32"
            | "float16"
            | "bfloat16"
            | "double"
            | "float"
            | "half"
            | "bool"
            | "uint8"
            | "int8"
            | "int16"
            | "int32"
            | "int64"
            | "short"
            | "int"
            | "long"
            | "uint16"
            | "uint32"
            | "uint64"
    )
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ScanError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
            ScanError::Truncated(format!("the pickle ends inside an opcode at byte {} (wanted {n} more)", self.at))
        })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, ScanError> {
        Ok(self.take(1)?[0])
    }

    fn le_len(&mut self, width: usize) -> Result<usize, ScanError> {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(self.take(width)?);
        usize::try_from(u64::from_le_bytes(buf))
            .map_err(|_| ScanError::Malformed("a length in the pickle does not fit in memory".into()))
    }

    /// Bytes preceded by their little-endian length of `width` bytes.
    fn prefixed(&mut self, width: usize) -> Result<&'a [u8], ScanError> {
        let n = self.le_len(width)?;
        self.take(n)
    }

    fn line(&mut self) -> Result<&'a [u8], ScanError> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| ScanError::Truncated("the pickle ends inside a text argument".into()))?;
        self.at += n + 1;
        Ok(&rest[..n])
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Strips the quotes of a protocol-0 `STRING` argument (`'abc'` or `"abc"`).
fn unquote(bytes: &[u8]) -> &[u8] {
    match bytes {
        [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && q == last => inner,
        _ => bytes,
    }
}

fn check_global(module: &str, name: &str) -> Result<(), ScanError> {
    if allowed(module, name) {
        Ok(())
    } else {
        Err(ScanError::Forbidden(format!("{module}.{name}")))
    }
}

/// What the walk knows of one value on the pickle's stack.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    /// A global, as `module.name`.
    Global(String),
    /// torch.save's persistent id of a storage: `('storage', class, key, location, numel)`.
    StorageId(StorageClaim),
    Other,
}

/// The values pushed since a MARK (or since the pickle began), as far as the walk can tell.
#[derive(Debug, Default)]
struct Frame {
    /// The top of the stack within this frame, oldest first. After an opcode the walk does
    /// not model, it is cleared and `exact` is false: what is pushed afterwards is still the
    /// true top of the stack, but what lies beneath it is unknown.
    items: Vec<Value>,
    exact: bool,
}

impl Frame {
    fn new() -> Self {
        Frame { items: Vec::new(), exact: true }
    }

    fn forget(&mut self) {
        self.items.clear();
        self.exact = false;
    }

    /// Pops `n` values and pushes `pushed` unknown ones.
    fn apply(&mut self, n: usize, pushed: usize) {
        if self.items.len() >= n {
            self.items.truncate(self.items.len() - n);
        } else {
            self.forget();
        }
        self.items.extend(std::iter::repeat_n(Value::Other, pushed));
    }
}

/// Bytes per element of a storage class `torch.save` names in a persistent id.
fn storage_element_size(class: &str) -> Option<usize> {
    let class = class.strip_prefix("torch.storage.").or_else(|| class.strip_prefix("torch."))?;
    Some(match class {
        "DoubleStorage" | "LongStorage" => 8,
        "FloatStorage" | "IntStorage" => 4,
        "HalfStorage" | "BFloat16Storage" | "ShortStorage" => 2,
        "BoolStorage" | "ByteStorage" | "CharStorage" | "UntypedStorage" => 1,
        _ => return None,
    })
}

fn small_int(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::Other;
    }
    let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
    let mut buf = [fill; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(buf))
}

/// Walks one pickle starting at `start`, checking every global it names, within `budget`
/// bytes of memory.
pub fn scan(bytes: &[u8], start: usize, budget: usize) -> Result<Scan, ScanError> {
    let mut meter = Meter { left: budget, budget };
    let mut c = Cursor { bytes, at: start };
    let mut scan = Scan::default();
    // frames[0] is the stack below any MARK.
    let mut frames = vec![Frame::new()];
    let mut memo: HashMap<u64, Value> = HashMap::new();
    loop {
        let op = c.u8()?;
        let top = frames.last_mut().expect("the bottom frame is never popped");
        let mut pushed = None;
        match op {
            // STOP
            b'.' => {
                scan.end = c.at;
                return Ok(scan);
            }
            b'(' => {
                meter.charge(std::mem::size_of::<Frame>())?;
                frames.push(Frame::new());
                continue;
            }
            // GLOBAL and INST: module and name as two text lines (INST also pops a MARK).
            b'c' | b'i' => {
                let module = text(c.line()?);
                let name = text(c.line()?);
                check_global(&module, &name)?;
                if op == b'i' {
                    pop_mark(&mut frames)?;
                    frames.last_mut().expect("bottom frame").items.push(Value::Other);
                    continue;
                }
                pushed = Some(Value::Global(format!("{module}.{name}")));
            }
            // STACK_GLOBAL: module and name are the two values on top.
            0x93 => {
                let n = top.items.len();
                match top.items.get(n.wrapping_sub(2)..) {
                    Some([Value::Str(module), Value::Str(name)]) => {
                        check_global(module, name)?;
                        let global = Value::Global(format!("{module}.{name}"));
                        top.items.truncate(n - 2);
                        pushed = Some(global);
                    }
                    _ => return Err(ScanError::Forbidden(
                        "a global whose name is computed at load time (STACK_GLOBAL on values other than two strings)"
                            .into(),
                    )),
                }
            }
            // EXT1/2/4 name a global through the copyreg extension registry.
            0x82..=0x84 => return Err(ScanError::Forbidden("a global from the copyreg extension registry".into())),
            // Strings.
            b'X' | b'T' => pushed = Some(Value::Str(text(c.prefixed(4)?))),
            0x8c | b'U' => pushed = Some(Value::Str(text(c.prefixed(1)?))),
            0x8d => pushed = Some(Value::Str(text(c.prefixed(8)?))),
            b'V' => pushed = Some(Value::Str(text(c.line()?))),
            b'S' => pushed = Some(Value::Str(text(unquote(c.line()?)))),
            // Integers.
            b'K' => pushed = Some(small_int(&[c.u8()?, 0])),
            b'M' => pushed = Some(small_int(&[c.take(2)?, &[0]].concat())),
            b'J' => pushed = Some(small_int(c.take(4)?)),
            0x8a => pushed = Some(small_int(c.prefixed(1)?)),
            b'I' | b'L' => {
                let line = text(c.line()?);
                pushed = Some(line.trim_end_matches('L').parse().map_or(Value::Other, Value::Int));
            }
            // Memo writes leave the stack alone; reads push what was stored.
            b'p' | b'q' | b'r' | 0x94 => {
                let slot = match op {
                    b'p' => memo_slot(&text(c.line()?))?,
                    b'q' => c.le_len(1)? as u64,
                    b'r' => c.le_len(4)? as u64,
                    _ => memo.len() as u64,
                };
                let value = top.items.last().cloned().unwrap_or(Value::Other);
                meter.value(&value)?;
                meter.charge(std::mem::size_of::<u64>())?;
                memo.insert(slot, value);
                continue;
            }
            b'g' | b'h' | b'j' => {
                let slot = match op {
                    b'g' => memo_slot(&text(c.line()?))?,
                    b'h' => c.le_len(1)? as u64,
                    _ => c.le_len(4)? as u64,
                };
                let stored = memo.get(&slot);
                // Charged before the copy is made: a long string fetched again and again.
                meter.value(stored.unwrap_or(&Value::Other))?;
                pushed = Some(stored.cloned().unwrap_or(Value::Other));
            }
            // PROTO and FRAME: framing only.
            0x80 => drop(c.take(1)?),
            0x95 => drop(c.take(8)?),
            // Other values pushed from an argument, or from nothing.
            b'G' => {
                c.take(8)?;
                pushed = Some(Value::Other);
            }
            b'B' | 0x8b => {
                c.prefixed(4)?;
                pushed = Some(Value::Other);
            }
            b'C' => {
                c.prefixed(1)?;
                pushed = Some(Value::Other);
            }
            0x8e | 0x96 => {
                c.prefixed(8)?;
                pushed = Some(Value::Other);
            }
            b'F' | b'P' => {
                c.line()?;
                pushed = Some(Value::Other);
            }
            b'N' | b')' | b']' | b'}' | 0x88 | 0x89 | 0x8f | 0x97 => pushed = Some(Value::Other),
            // TUPLE: the one mark-consuming opcode whose result the walk keeps, to see the
            // storage persistent ids.
            b't' => {
                let frame = pop_mark(&mut frames)?;
                let value = match (frame.exact, frame.items.as_slice()) {
                    (
                        true,
                        [Value::Str(tag), Value::Global(class), Value::Str(key), Value::Str(_), Value::Int(numel)],
                    ) if tag == "storage" => Value::StorageId(StorageClaim {
                        key: key.clone(),
                        numel: *numel,
                        element_size: storage_element_size(class),
                    }),
                    _ => Value::Other,
                };
                frames.last_mut().expect("bottom frame").items.push(value);
                continue;
            }
            // BINPERSID: the storage a persistent id names.
            b'Q' => {
                if let Some(Value::StorageId(claim)) = top.items.last() {
                    scan.storages.push(claim.clone());
                }
                top.apply(1, 1);
            }
            // Other mark-consuming opcodes: LIST, DICT, OBJ, FROZENSET push their result;
            // SETITEMS, APPENDS, ADDITEMS, POP_MARK add to (or drop) what is below the mark.
            b'l' | b'd' | b'o' | 0x91 => {
                pop_mark(&mut frames)?;
                frames.last_mut().expect("bottom frame").items.push(Value::Other);
                continue;
            }
            b'u' | b'e' | 0x90 | b'1' => {
                pop_mark(&mut frames)?;
                continue;
            }
            // Fixed stack effects: (values popped, values pushed).
            b'R' | b'b' | b'a' | 0x81 => top.apply(2, 1),
            b's' | 0x92 => top.apply(3, 1),
            b'0' => top.apply(1, 0),
            0x85 => top.apply(1, 1),
            0x86 => top.apply(2, 1),
            0x87 => top.apply(3, 1),
            b'2' => pushed = Some(top.items.last().cloned().unwrap_or(Value::Other)),
            0x98 => top.apply(1, 1),
            other => {
                return Err(ScanError::Malformed(format!("unknown pickle opcode 0x{other:02x} at byte {}", c.at - 1)))
            }
        }
        if let Some(value) = pushed {
            // A memo read was charged when it was fetched.
            if !matches!(op, b'g' | b'h' | b'j') {
                meter.value(&value)?;
            }
            if let Value::Str(s) = &value {
                scan.strings.push(s.clone());
            }
            frames.last_mut().expect("bottom frame").items.push(value);
        }
    }
}

fn pop_mark(frames: &mut Vec<Frame>) -> Result<Frame, ScanError> {
    if frames.len() < 2 {
        return Err(ScanError::Malformed("the pickle closes a MARK it never opened".into()));
    }
    Ok(frames.pop().expect("checked above"))
}

fn memo_slot(line: &str) -> Result<u64, ScanError> {
    line.trim().parse::<u64>().map_err(|_| bad_memo())
}

fn bad_memo() -> ScanError {
    ScanError::Malformed("a memo index in the pickle is not a number".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A budget no test pickle comes near.
    const LOOSE: usize = 1 << 30;

    // Where a comment names a `pickle.dumps` call, the bytes are what CPython 3.11 wrote for
    // it; the others are assembled by hand and were checked with `pickletools.dis`.

    #[test]
    fn protocol_2_global_is_checked() {
        // pickle.dumps(collections.OrderedDict(a=1), protocol=2)
        let ok = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02K\x01s.";
        let scan = scan(ok, 0, LOOSE).unwrap();
        assert_eq!(scan.strings, vec!["a".to_string()]);
        assert_eq!(scan.end, ok.len());
        // By hand: the REDUCE that `torch.load` would run as os.system('ls').
        let bad = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        assert_eq!(super::scan(bad, 0, LOOSE).unwrap_err(), ScanError::Forbidden("os.system".into()));
    }

    #[test]
    fn protocol_4_stack_global_is_resolved_through_the_memo() {
        // pickle.dumps(os.system, protocol=4): module and name pushed, memoized, STACK_GLOBAL.
        let bad = b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.";
        assert_eq!(scan(bad, 0, LOOSE).unwrap_err(), ScanError::Forbidden("posix.system".into()));
        // A later reference to the same global fetches both strings back from the memo.
        let via_memo = b"\x80\x04\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94h\x00h\x01\x93.";
        assert!(scan(via_memo, 0, LOOSE).is_ok());
        let evil_memo = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x8c\x0bcollections\x94h\x00h\x01\x93.";
        assert_eq!(scan(evil_memo, 0, LOOSE).unwrap_err(), ScanError::Forbidden("os.system".into()));
    }

    #[test]
    fn stack_global_on_a_computed_name_is_refused() {
        // Two strings glued by an opcode the walk does not follow (ADDITEMS on a set) before STACK_GLOBAL.
        let computed = b"\x80\x04\x8c\x02os\x8c\x06system\x8f\x93.";
        assert!(matches!(scan(computed, 0, LOOSE), Err(ScanError::Forbidden(_))));
    }

    #[test]
    fn extension_registry_and_inst_are_refused() {
        assert!(matches!(scan(b"\x80\x02\x82\x01.", 0, LOOSE), Err(ScanError::Forbidden(_))));
        assert_eq!(scan(b"(ios\nsystem\n.", 0, LOOSE).unwrap_err(), ScanError::Forbidden("os.system".into()));
    }

    #[test]
    fn truncation_is_truncated_and_garbage_is_malformed() {
        let full = b"\x80\x02X\x05\x00\x00\x00hello.";
        for cut in 0..full.len() {
            assert!(matches!(scan(&full[..cut], 0, LOOSE), Err(ScanError::Truncated(_))), "cut at {cut}");
        }
        assert!(matches!(scan(b"\x80\x02\xff.", 0, LOOSE), Err(ScanError::Malformed(_))));
        // A length claiming far more than the buffer holds fails without allocating it.
        assert!(matches!(scan(b"\x8d\xff\xff\xff\xff\xff\xff\xff\x7f", 0, LOOSE), Err(ScanError::Truncated(_))));
    }

    #[test]
    fn storage_claims_are_read_from_torch_save_persistent_ids() {
        // views.pt (make_fixtures.py): a [48, 64] f32 base saved through its transpose, a
        // [10, 8, 3, 3] base through a strided slice, and a 64-element bias.
        // views_protocol4.pt is the same state dict pickled with protocol 4, where the storage
        // class and the repeated strings come back through MEMOIZE / BINGET.
        for name in ["views", "views_protocol4"] {
            let path = format!("{}/tests/fixtures/torch/{name}.pt", env!("CARGO_MANIFEST_DIR"));
            let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
            let mut pickle = Vec::new();
            let mut entry = archive.by_name(&format!("{name}/data.pkl")).unwrap();
            std::io::Read::read_to_end(&mut entry, &mut pickle).unwrap();
            let claims: Vec<(String, i64, Option<usize>)> = scan(&pickle, 0, LOOSE)
                .unwrap()
                .storages
                .into_iter()
                .map(|c| (c.key, c.numel, c.element_size))
                .collect();
            let want = [("0", 48 * 64), ("1", 10 * 8 * 3 * 3), ("2", 64)];
            assert_eq!(claims, want.map(|(k, n)| (k.to_string(), n, Some(4))).to_vec(), "{name}");
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes end in a verdict, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = scan(&bytes, 0, LOOSE);
        }
    }

    #[test]
    fn consecutive_pickles_are_walked_one_at_a_time() {
        let two = b"K\x01.X\x01\x00\x00\x00b.";
        let first = scan(two, 0, LOOSE).unwrap();
        assert_eq!(first.end, 3);
        let second = scan(two, first.end, LOOSE).unwrap();
        assert_eq!(second.strings, vec!["b".to_string()]);
        assert_eq!(second.end, two.len());
    }

    #[test]
    fn floods_run_out_of_budget_and_a_state_dict_does_not() {
        let marks = [b"\x80\x02}".as_slice(), &[b'('; 100_000], b"."].concat();
        assert_eq!(scan(&marks, 0, 1 << 20).unwrap_err(), ScanError::OverBudget { budget: 1 << 20 });
        let long =
            [b"\x80\x02}X\x10\x27\x00\x00".as_slice(), &[b'a'; 10_000], b"q\x00", &b"h\x00".repeat(100), b"."].concat();
        assert!(matches!(scan(&long, 0, 1 << 20), Err(ScanError::OverBudget { .. })), "100 copies of 10 kB");
        // A state dict's pickle (CPython 3.11, protocol 2) fits the budget of its own size.
        let state_dict = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02K\x01s.";
        assert!(scan(state_dict, 0, budget_for(state_dict.len())).is_ok());
    }
}
