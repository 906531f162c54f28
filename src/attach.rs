//! Attachments: a path turned into a message part (a text file or an image), the checks made
//! before anything is sent (size, the providers' image limits, whether the model can see), and
//! the providers' published rules for the tokens an image costs. Every refusal names the path
//! and says what to do; nothing here loses the draft (front ends keep it).

use crate::config::{Config, ModelRef};
use crate::conversation::blobs::Blobs;
use crate::parts::{FilePart, ImagePart, Part};
use crate::provider::Kind;
use std::path::PathBuf;

/// The image formats every provider takes.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Attachment limits (`[attachments]` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// No attachment larger than this is read at all.
    pub max_file_bytes: u64,
    /// A text file may take at most this share of the model's context window.
    pub max_context_share: f64,
}

pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
pub const DEFAULT_CONTEXT_SHARE: f64 = 0.5;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_context_share: DEFAULT_CONTEXT_SHARE,
        }
    }
}

impl Limits {
    pub fn of(cfg: &Config) -> Limits {
        let a = cfg.file.attachments.as_ref();
        Limits {
            max_file_bytes: a
                .and_then(|a| a.max_file_bytes)
                .unwrap_or(DEFAULT_MAX_FILE_BYTES),
            max_context_share: a
                .and_then(|a| a.max_context_share)
                .unwrap_or(DEFAULT_CONTEXT_SHARE),
        }
    }
}

/// What a provider accepts per image, and how it counts an image's tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageRules {
    /// Largest image, in bytes (before base64).
    pub max_bytes: u64,
    /// Largest width or height, in pixels.
    pub max_side: u32,
    /// Largest sum of image bytes in one request (Gemini's inline data limit).
    pub max_request_bytes: u64,
    pub max_images: usize,
}

const MB: u64 = 1024 * 1024;

/// Published limits: Anthropic 5 MB and 8000 px per image, 100 images per request; OpenAI
/// 20 MB per image, 500 per request (50 MB per request); Gemini 20 MB of inline data per request,
/// 3,600 images. Ollama and the demo run here: only charla's own size cap applies.
pub fn image_rules(kind: Kind) -> ImageRules {
    match kind {
        Kind::Anthropic => ImageRules {
            max_bytes: 5 * MB,
            max_side: 8000,
            max_request_bytes: 32 * MB,
            max_images: 100,
        },
        Kind::Openai => ImageRules {
            max_bytes: 20 * MB,
            max_side: u32::MAX,
            max_request_bytes: 50 * MB,
            max_images: 500,
        },
        Kind::Gemini => ImageRules {
            max_bytes: 20 * MB,
            max_side: u32::MAX,
            max_request_bytes: 20 * MB,
            max_images: 3600,
        },
        Kind::Ollama | Kind::Demo => ImageRules {
            max_bytes: u64::MAX,
            max_side: u32::MAX,
            max_request_bytes: u64::MAX,
            max_images: usize::MAX,
        },
    }
}

/// Tokens an image of `w`×`h` pixels costs, by each provider's published rule (an estimate:
/// the provider's count is what is billed).
/// - OpenAI (high detail): fit in 2048×2048, scale the short side to 768, then 170 per
///   512-px tile plus 85.
/// - Anthropic: scaled to fit 1568 px on the long side, then w×h/750, at most about 1,600
///   (larger images are scaled down to about 1.15-1.2 megapixels).
/// - Gemini: 258 if both sides are at most 384 px, else 258 per 768×768 tile.
/// - Ollama and the demo: the OpenAI rule (local vision models vary; it is a fair middle).
pub fn image_tokens(kind: Kind, w: u32, h: u32) -> u64 {
    let (w, h) = (w.max(1) as f64, h.max(1) as f64);
    match kind {
        Kind::Anthropic => {
            let s = (1568.0 / w.max(h)).min(1.0);
            (((w * s).round() * (h * s).round() / 750.0).ceil() as u64).min(1600)
        }
        Kind::Gemini => {
            if w <= 384.0 && h <= 384.0 {
                258
            } else {
                ((w / 768.0).ceil() * (h / 768.0).ceil()) as u64 * 258
            }
        }
        Kind::Openai | Kind::Ollama | Kind::Demo => {
            let s = (2048.0 / w.max(h)).min(1.0);
            let (w, h) = (w * s, h * s);
            let s = (768.0 / w.min(h)).min(1.0);
            let (w, h) = (w * s, h * s);
            let tiles = (w / 512.0).ceil() * (h / 512.0).ceil();
            85 + 170 * tiles as u64
        }
    }
}

/// Whether a model reads images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vision {
    Yes,
    No,
    /// Neither the config nor charla's model data says: the image is sent and the provider
    /// decides.
    Unknown,
}

/// Does `pattern` (a model id, or a prefix ending in `*`) match `model`?
fn matches(pattern: &str, model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => model == pattern,
    }
}

/// Whether `model` takes images: the provider's `vision_models` in the config, else charla's
/// model data (`[[vision]]` in `assets/pricing.toml`). For a router (OpenRouter) the part after
/// the vendor (`openai/gpt-4o` → `gpt-4o`) is looked up under every family.
pub fn vision(cfg: &Config, model: &ModelRef) -> Vision {
    let Some(p) = cfg.provider(&model.provider) else {
        return Vision::Unknown;
    };
    if p.kind == Kind::Demo {
        return Vision::Yes;
    }
    if let Some(list) = &p.file.vision_models {
        return if list.iter().any(|pat| matches(pat, &model.model)) {
            Vision::Yes
        } else {
            Vision::No
        };
    }
    let families = [p.price_family(), p.kind.as_str().to_string()];
    let id = model.model.as_str();
    let bare = id.rsplit('/').next().unwrap_or(id);
    for rule in &cfg.prices.vision {
        let here = families.contains(&rule.provider);
        let routed = bare != id;
        if (here && rule.models.iter().any(|pat| matches(pat, id)))
            || (routed && rule.models.iter().any(|pat| matches(pat, bare)))
        {
            return if rule.images { Vision::Yes } else { Vision::No };
        }
    }
    Vision::Unknown
}

/// Models of this config that take images (for a message naming some), current provider's first.
pub fn vision_examples(cfg: &Config, prefer: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut providers: Vec<&crate::config::ProviderConfig> = cfg.providers.values().collect();
    providers.sort_by_key(|p| p.name != prefer);
    for p in providers {
        if p.kind == Kind::Demo {
            continue;
        }
        let names = p
            .file
            .default_model
            .iter()
            .chain(p.file.models.iter().flatten());
        for m in names {
            let r = ModelRef {
                provider: p.name.clone(),
                model: m.clone(),
            };
            if vision(cfg, &r) == Vision::Yes && !out.contains(&r.to_string()) {
                out.push(r.to_string());
            }
        }
    }
    out.truncate(4);
    out
}

/// Expands `~/` and makes a path from what a user typed or pasted: quotes, a `file://` URL
/// (terminals give those for a dropped file), and backslash-escaped spaces are undone.
pub fn user_path(s: &str) -> PathBuf {
    let mut s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            s = &s[1..s.len() - 1];
        }
    }
    let owned;
    if let Some(rest) = s.strip_prefix("file://") {
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        owned = percent_encoding::percent_decode_str(rest)
            .decode_utf8_lossy()
            .into_owned();
        s = &owned;
    }
    let unescaped = s.replace("\\ ", " ");
    if let Some(rest) = unescaped.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    PathBuf::from(unescaped)
}

/// Whether pasted text is one path to an existing file (offered as an attachment).
pub fn pasted_path(s: &str) -> Option<PathBuf> {
    let t = s.trim();
    if t.is_empty() || t.contains('\n') || t.len() > 4096 {
        return None;
    }
    let p = user_path(t);
    (p.is_absolute() || t.starts_with("~/") || t.starts_with("./") || t.starts_with("file://"))
        .then_some(p)
        .filter(|p| p.is_file())
}

/// A file read for attaching, and what the user should know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub part: Part,
    /// E.g. "not valid UTF-8: decoded with replacement characters".
    pub note: Option<String>,
}

/// What an attachment is checked against when it is added: the model it will go to now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub kind: Kind,
    pub context_window: Option<u64>,
}

/// Reads `shown` (as the user typed it) into a part: a text file, or a png/jpeg/gif/webp image
/// whose bytes go to the blob store. Refuses, naming the path: a missing or unreadable path, a
/// directory, a binary that is not a supported image, a file over the limits.
pub fn load(shown: &str, blobs: &Blobs, limits: &Limits, target: Target) -> Result<Loaded, String> {
    let path = user_path(shown);
    let name = crate::sanitize::sanitize(shown.trim());
    let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{name}: no such file"),
        std::io::ErrorKind::PermissionDenied => format!("{name}: permission denied"),
        _ => format!("{name}: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!(
            "{name} is a directory: attach the files in it one at a time"
        ));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(format!(
            "{name} is {}, over the attachment limit of {} ([attachments] max_file_bytes)",
            human_bytes(meta.len()),
            human_bytes(limits.max_file_bytes)
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{name}: {e}"))?;
    let size = bytes.len() as u64;
    if let Some(media_type) = image_type(&bytes) {
        let dim = imagesize::blob_size(&bytes)
            .map_err(|e| format!("{name}: a {media_type} whose size cannot be read ({e})"))?;
        let (width, height) = (dim.width as u32, dim.height as u32);
        check_image(&name, size, width, height, target.kind)?;
        let (sha256, blob) = blobs
            .put(&bytes)
            .map_err(|e| format!("{name}: could not store the image: {e}"))?;
        return Ok(Loaded {
            part: Part::Image(ImagePart {
                name: display_name(shown),
                media_type: media_type.to_string(),
                sha256,
                size,
                width,
                height,
                blob,
                bytes: crate::parts::Bytes(Some(bytes.into())),
            }),
            note: None,
        });
    }
    if let Some(what) = other_binary(&bytes) {
        return Err(format!(
            "{name} is {what}: charla attaches text files and png, jpeg, gif or webp images"
        ));
    }
    let sha256 = crate::conversation::blobs::sha256_hex(&bytes);
    let (text, lossy) = match String::from_utf8(bytes) {
        Ok(t) => (t, false),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), true),
    };
    // A key charla knows never travels in an attachment (nor lands in the saved file).
    let masked = crate::redact::redact_known(&text);
    let had_key = masked != text;
    let text = masked;
    let tokens = crate::tokens::approx(&text);
    if let Some(ctx) = target.context_window {
        let allowed = (ctx as f64 * limits.max_context_share) as u64;
        if tokens > allowed {
            return Err(format!(
                "{name} is about {} tokens, over {:.0}% of the model's {} context \
                 ([attachments] max_context_share); attach a smaller part of it",
                human_tokens(tokens),
                limits.max_context_share * 100.0,
                human_tokens(ctx)
            ));
        }
    }
    Ok(Loaded {
        part: Part::File(FilePart {
            path: display_name(shown),
            sha256,
            size,
            text,
            lossy,
        }),
        note: {
            let mut notes = Vec::new();
            if lossy {
                notes.push(format!(
                    "{name} is not valid UTF-8: its invalid bytes were replaced (U+FFFD)"
                ));
            }
            if had_key {
                notes.push(format!(
                    "{name} holds an API key charla knows: it was replaced by {} before sending",
                    crate::redact::MASK
                ));
            }
            (!notes.is_empty()).then(|| notes.join("; "))
        },
    })
}

/// The path as shown and sent: as typed, with a `file://` URL or quotes undone.
fn display_name(shown: &str) -> String {
    let t = shown.trim();
    if t.starts_with("file://") || t.starts_with('\'') || t.starts_with('"') {
        user_path(t).display().to_string()
    } else {
        t.to_string()
    }
}

/// Checks an image against a provider's published limits (resizing is the user's call).
pub fn check_image(name: &str, size: u64, w: u32, h: u32, kind: Kind) -> Result<(), String> {
    let r = image_rules(kind);
    if size > r.max_bytes {
        return Err(format!(
            "{name} is {}: {} takes images of at most {} (charla does not resize; shrink it first)",
            human_bytes(size),
            kind.as_str(),
            human_bytes(r.max_bytes)
        ));
    }
    if w.max(h) > r.max_side {
        return Err(format!(
            "{name} is {w}×{h} px: {} takes images of at most {} px a side (charla does not \
             resize; shrink it first)",
            kind.as_str(),
            r.max_side
        ));
    }
    Ok(())
}

/// The media type of a supported image, from its first bytes.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    use imagesize::ImageType as T;
    match imagesize::image_type(bytes).ok()? {
        T::Png => Some("image/png"),
        T::Jpeg => Some("image/jpeg"),
        T::Gif => Some("image/gif"),
        T::Webp => Some("image/webp"),
        _ => None,
    }
}

/// What a binary file that is not a supported image is, if it is binary.
fn other_binary(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(8192)];
    let named = [
        (&b"BM"[..], "a BMP image"),
        (b"II*\0", "a TIFF image"),
        (b"MM\0*", "a TIFF image"),
        (b"%PDF", "a PDF"),
        (b"PK\x03\x04", "a zip archive"),
        (b"\x7fELF", "an executable"),
        (b"\x1f\x8b", "a gzip archive"),
    ];
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return Some("an HEIC/AVIF image or a video".into());
    }
    let nul = head.contains(&0);
    for (magic, what) in named {
        if head.starts_with(magic) && (nul || magic.len() > 2) {
            return Some(what.into());
        }
    }
    // Text has no NUL bytes and few other controls.
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b))
        .count();
    (nul || controls * 10 > head.len().max(1)).then(|| "a binary file".into())
}

pub fn human_bytes(n: u64) -> String {
    if n >= MB {
        format!("{:.1} MB", n as f64 / MB as f64)
    } else if n >= 1024 {
        format!("{:.0} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

pub fn human_tokens(n: u64) -> String {
    if n >= 1_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n >= 1000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// Estimated tokens of one part for a provider of `kind` (text parts as they are sent).
pub fn part_tokens(p: &Part, kind: Kind, method: crate::tokens::Method) -> u64 {
    match p {
        Part::Image(i) => image_tokens(kind, i.width, i.height),
        other => other
            .as_text()
            .map(|t| crate::tokens::estimate(&t, method))
            .unwrap_or(0),
    }
}

/// [`describe`] with a file's or image's name instead of its whole path (for chips).
pub fn describe_short(p: &Part, kind: Kind) -> String {
    describe_with(p, kind, true, None)
}

/// [`describe_short`] with the part's tokens already counted (the chips count a file once).
pub fn describe_counted(p: &Part, kind: Kind, tokens: u64) -> String {
    describe_with(p, kind, true, Some(tokens))
}

/// A short description of a part for chips, the transcript and `show`:
/// `report.md · 12 KB · ~3.1k tokens`, `shot.png · png 1280×800 · 340 KB · ~1.1k tokens`.
pub fn describe(p: &Part, kind: Kind) -> String {
    describe_with(p, kind, false, None)
}

fn describe_with(p: &Part, kind: Kind, short: bool, tokens: Option<u64>) -> String {
    let tokens = tokens.unwrap_or_else(|| part_tokens(p, kind, crate::tokens::Method::Approx));
    let name = |s: &str| -> String {
        match std::path::Path::new(s).file_name() {
            Some(n) if short => n.to_string_lossy().into_owned(),
            _ => s.to_string(),
        }
    };
    match p {
        Part::File(f) => format!(
            "{} · {} · ~{} tokens{}",
            name(&f.path),
            human_bytes(f.size),
            human_tokens(tokens),
            if f.lossy { " · not UTF-8" } else { "" }
        ),
        Part::Image(i) => format!(
            "{} · {} {}×{} · {} · ~{} tokens",
            name(&i.name),
            i.media_type.trim_start_matches("image/"),
            i.width,
            i.height,
            human_bytes(i.size),
            human_tokens(tokens)
        ),
        Part::Text { .. } => format!("text · ~{} tokens", human_tokens(tokens)),
        Part::Unknown(v) => format!(
            "a part of type {:?} from a newer charla",
            v.get("type").and_then(|t| t.as_str()).unwrap_or("?")
        ),
        Part::Context(c) => format!(
            "{} passage{} from {} · ~{} tokens",
            c.passages.len(),
            if c.passages.len() == 1 { "" } else { "s" },
            c.collection.as_deref().unwrap_or("retrieval"),
            human_tokens(tokens)
        ),
        Part::ToolCall(c) => format!(
            "{} {} · {}",
            c.name,
            c.arguments,
            c.approval.as_deref().unwrap_or("not decided")
        ),
        Part::ToolResult(r) => {
            let mut s = format!(
                "{} · {}{}",
                r.name,
                human_bytes(r.text.len() as u64),
                if r.is_error { " · error" } else { "" }
            );
            if let Some(c) = r.exit_code {
                s.push_str(&format!(" · exit {c}"));
            }
            if let Some(d) = r.duration_ms {
                s.push_str(&format!(" · {d} ms"));
            }
            if let Some(n) = r.truncated_from {
                s.push_str(&format!(" · cut from {}", human_bytes(n)));
            }
            s
        }
    }
}

/// Checks every image a request to `model` would carry (the whole history: a conversation
/// continued on another provider re-sends them): the model must be able to see, and each
/// image and the request must be within the provider's limits. Returns a warning when
/// charla does not know whether the model reads images.
pub fn check_request<'a>(
    cfg: &Config,
    model: &ModelRef,
    parts: impl Iterator<Item = &'a Part>,
) -> Result<Option<String>, String> {
    let images: Vec<&ImagePart> = parts
        .filter_map(|p| match p {
            Part::Image(i) => Some(i),
            _ => None,
        })
        .collect();
    if images.is_empty() {
        return Ok(None);
    }
    let Some(p) = cfg.provider(&model.provider) else {
        return Ok(None);
    };
    let warning = match vision(cfg, model) {
        Vision::Yes => None,
        Vision::No => {
            let can = vision_examples(cfg, &model.provider);
            let hint = if can.is_empty() {
                "switch to a model that reads images".to_string()
            } else {
                format!("models that do: {}", can.join(", "))
            };
            return Err(format!(
                "{model} does not read images, and this conversation has {} ({}); {hint}. \
                 If it does, add it to vision_models under [providers.{}]",
                images.len(),
                images[0].name,
                model.provider
            ));
        }
        Vision::Unknown => Some(format!(
            "charla does not know whether {model} reads images; sending them anyway (set \
             vision_models under [providers.{}] to say)",
            model.provider
        )),
    };
    let rules = image_rules(p.kind);
    if images.len() > rules.max_images {
        return Err(format!(
            "{} images: {} takes at most {} per request",
            images.len(),
            p.kind.as_str(),
            rules.max_images
        ));
    }
    for i in &images {
        check_image(&i.name, i.size, i.width, i.height, p.kind)?;
    }
    let total: u64 = images.iter().map(|i| i.size).sum();
    if total > rules.max_request_bytes {
        return Err(format!(
            "the conversation's images add up to {}: {} takes at most {} per request",
            human_bytes(total),
            p.kind.as_str(),
            human_bytes(rules.max_request_bytes)
        ));
    }
    Ok(warning)
}

/// Loads the bytes of every image in `messages` that has none yet, from the blob store.
pub fn load_images(
    messages: &mut [crate::conversation::Message],
    blobs: &Blobs,
) -> Result<(), String> {
    for m in messages {
        for p in &mut m.parts {
            if let Part::Image(i) = p
                && i.bytes.0.is_none()
            {
                let b = blobs
                    .get(&i.sha256)
                    .map_err(|e| format!("image {}: {e}", i.name))?;
                i.bytes.0 = Some(b);
            }
        }
    }
    Ok(())
}

/// The blob store of a config. (The keys an attached file might hold are known to the
/// redactor from the config's loading.)
pub fn blobs(cfg: &Config) -> Blobs {
    Blobs::new(cfg.paths.data_dir.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_token_rules_match_the_providers_worked_examples() {
        // OpenAI's docs: 1024×1024 high detail = 765 tokens; 2048×4096 = 1105.
        assert_eq!(image_tokens(Kind::Openai, 1024, 1024), 765);
        assert_eq!(image_tokens(Kind::Openai, 2048, 4096), 1105);
        // Anthropic's table: 1092×1092 ≈ 1590 tokens; 200×200 ≈ 54.
        assert_eq!(image_tokens(Kind::Anthropic, 1092, 1092), 1590);
        assert_eq!(image_tokens(Kind::Anthropic, 200, 200), 54);
        // Gemini: small images 258; 1024×1024 is 4 tiles.
        assert_eq!(image_tokens(Kind::Gemini, 300, 300), 258);
        assert_eq!(image_tokens(Kind::Gemini, 1024, 1024), 4 * 258);
    }

    #[test]
    fn pasted_paths_undo_quotes_urls_and_escapes() {
        assert_eq!(user_path("'/tmp/a b.png'"), PathBuf::from("/tmp/a b.png"));
        assert_eq!(
            user_path("file:///tmp/a%20b.png"),
            PathBuf::from("/tmp/a b.png")
        );
        assert_eq!(user_path("/tmp/a\\ b.png"), PathBuf::from("/tmp/a b.png"));
        assert_eq!(pasted_path("hello world"), None);
        assert_eq!(pasted_path("/definitely/not/here.png"), None);
    }

    #[test]
    fn binaries_are_told_from_text() {
        assert_eq!(other_binary(b"fn main() {}\n"), None);
        assert_eq!(other_binary("héllo\twörld\r\n".as_bytes()), None);
        assert!(other_binary(b"%PDF-1.7 ...").is_some());
        assert!(other_binary(b"abc\0def").is_some());
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
    }
}
