//! UI palettes: semantic roles mapped to colours, plus the syntect theme for code. Shipped
//! themes are embedded; `<config dir>/themes/NAME.toml` overrides or adds; `theme` in the config
//! may also be a path. `NO_COLOR` turns every colour off (modifiers stay).

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    syntect: Option<String>,
    colors: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub name: String,
    pub syntect: String,
    pub no_color: bool,
    pub text: Style,
    pub user: Style,
    pub assistant: Style,
    pub accent: Style,
    pub dim: Style,
    pub error: Style,
    pub warning: Style,
    pub code: Style,
    pub heading: Style,
    pub link: Style,
    pub quote: Style,
    pub border: Style,
    pub status: Style,
}

pub const ROLES: &[&str] = &[
    "text",
    "user",
    "assistant",
    "accent",
    "dim",
    "error",
    "warning",
    "code",
    "heading",
    "link",
    "quote",
    "border",
    "status_fg",
    "status_bg",
];

fn parse_color(s: &str) -> Option<Color> {
    s.parse::<Color>().ok()
}

impl Theme {
    fn from_file(f: ThemeFile, no_color: bool, source: &str) -> Result<Theme, String> {
        for k in f.colors.keys() {
            if !ROLES.contains(&k.as_str()) {
                return Err(format!(
                    "{source}: unknown colour role `{k}` (roles: {})",
                    ROLES.join(", ")
                ));
            }
        }
        let get = |k: &str| -> Result<Color, String> {
            let v = f.colors.get(k).map(String::as_str).unwrap_or("reset");
            parse_color(v).ok_or_else(|| {
                format!("{source}: colors.{k} = {v:?} is not a colour (use a name or #rrggbb)")
            })
        };
        let fg = |c: Color| {
            if no_color {
                Style::default()
            } else {
                Style::default().fg(c)
            }
        };
        let text = fg(get("text")?);
        let status = if no_color {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default().fg(get("status_fg")?).bg(get("status_bg")?)
        };
        Ok(Theme {
            name: f.name,
            syntect: f.syntect.unwrap_or_else(|| "base16-ocean.dark".into()),
            no_color,
            text,
            user: fg(get("user")?).add_modifier(Modifier::BOLD),
            assistant: fg(get("assistant")?).add_modifier(Modifier::BOLD),
            accent: fg(get("accent")?),
            dim: fg(get("dim")?).add_modifier(if no_color {
                Modifier::DIM
            } else {
                Modifier::empty()
            }),
            error: fg(get("error")?).add_modifier(Modifier::BOLD),
            warning: fg(get("warning")?),
            code: fg(get("code")?),
            heading: fg(get("heading")?).add_modifier(Modifier::BOLD),
            link: fg(get("link")?).add_modifier(Modifier::UNDERLINED),
            quote: fg(get("quote")?).add_modifier(Modifier::ITALIC),
            border: fg(get("border")?),
            status,
        })
    }

    /// Loads `name_or_path` (a shipped name, a name in `user_dir`, or a file path).
    pub fn load(name_or_path: &str, user_dir: &Path, no_color: bool) -> Result<Theme, String> {
        let path = Path::new(name_or_path);
        let (src, source) = if name_or_path.ends_with(".toml") || path.components().count() > 1 {
            (
                std::fs::read_to_string(path)
                    .map_err(|e| format!("theme {}: {e}", path.display()))?,
                path.display().to_string(),
            )
        } else {
            let user = user_dir.join(format!("{name_or_path}.toml"));
            match std::fs::read_to_string(&user) {
                Ok(s) => (s, user.display().to_string()),
                Err(_) => match SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
                    Some((_, s)) => (s.to_string(), format!("(built-in) {name_or_path}")),
                    None => {
                        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
                        return Err(format!(
                            "no theme named '{name_or_path}' (shipped: {}; or put {name_or_path}.toml in {})",
                            names.join(", "),
                            user_dir.display()
                        ));
                    }
                },
            }
        };
        let f: ThemeFile = toml::from_str(&src).map_err(|e| format!("{source}: {e}"))?;
        Theme::from_file(f, no_color, &source)
    }

    pub fn shipped_names() -> Vec<&'static str> {
        SHIPPED.iter().map(|(n, _)| *n).collect()
    }

    /// The default dark theme (cannot fail: it is embedded and tested).
    pub fn fallback(no_color: bool) -> Theme {
        Theme::load("dark", Path::new("/nonexistent"), no_color).unwrap_or_else(|_| Theme {
            name: "plain".into(),
            syntect: "base16-ocean.dark".into(),
            no_color: true,
            text: Style::default(),
            user: Style::default().add_modifier(Modifier::BOLD),
            assistant: Style::default().add_modifier(Modifier::BOLD),
            accent: Style::default(),
            dim: Style::default().add_modifier(Modifier::DIM),
            error: Style::default().add_modifier(Modifier::BOLD),
            warning: Style::default(),
            code: Style::default(),
            heading: Style::default().add_modifier(Modifier::BOLD),
            link: Style::default().add_modifier(Modifier::UNDERLINED),
            quote: Style::default().add_modifier(Modifier::ITALIC),
            border: Style::default(),
            status: Style::default().add_modifier(Modifier::REVERSED),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_themes_load_and_bad_ones_are_named() {
        for n in Theme::shipped_names() {
            let t = Theme::load(n, Path::new("/nonexistent"), false).expect("shipped theme");
            assert_eq!(t.name, n);
        }
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("mine.toml"),
            "name = \"mine\"\n[colors]\nuser = \"not-a-colour\"\n",
        )
        .expect("w");
        let e = Theme::load("mine", dir.path(), false).expect_err("bad colour");
        assert!(e.contains("mine.toml") && e.contains("colors.user"), "{e}");
        assert!(Theme::load("nope", dir.path(), false).is_err());
        let nc = Theme::load("dark", dir.path(), true).expect("no color");
        assert_eq!(nc.user.fg, None);
    }
}
