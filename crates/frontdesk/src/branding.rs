//! `[branding]`: the product name and logo every page shows, the accent
//! colours, and a theme directory whose files override the built-in
//! templates and stylesheet one by one (a file the theme lacks falls back
//! to the built-in one). Everything is read and checked once, at start-up:
//! a theme that cannot be read, or a template that does not parse or
//! render, stops the server with one line naming the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

/// `[branding]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingConfig {
    /// The name in every page's header and title. Default `frontdesk`.
    pub product_name: Option<String>,
    /// The logo beside the name: a file of `theme_dir`, or an https URL.
    pub logo: Option<String>,
    /// The colour of buttons, links and focus rings (`#rgb` or
    /// `#rrggbb`), in light mode; and in dark mode.
    pub accent_color: Option<String>,
    pub accent_color_dark: Option<String>,
    /// Templates (`login.html`, `base.html`, …), `style.css` and assets
    /// (images, fonts) that replace or add to the built-in ones.
    pub theme_dir: Option<PathBuf>,
}

/// A theme file served at `/theme/NAME`.
#[derive(Debug, Clone)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// `[branding]`, loaded.
#[derive(Debug, Clone)]
pub struct Branding {
    pub product_name: String,
    /// Where the pages load the logo from (`/theme/NAME` or a URL).
    pub logo: Option<String>,
    /// The origin of a logo on another server, which the pages' CSP must
    /// let in.
    pub logo_origin: Option<String>,
    /// `/assets/brand.css`: the accent colours, when configured.
    pub brand_css: Option<String>,
    /// The theme's templates, by name.
    pub templates: BTreeMap<String, String>,
    /// The theme's `style.css`, served instead of the built-in one.
    pub stylesheet: Option<String>,
    /// The theme's other files.
    pub assets: BTreeMap<String, Asset>,
}

impl Default for Branding {
    fn default() -> Branding {
        Branding {
            product_name: DEFAULT_NAME.to_owned(),
            logo: None,
            logo_origin: None,
            brand_css: None,
            templates: BTreeMap::new(),
            stylesheet: None,
            assets: BTreeMap::new(),
        }
    }
}

const DEFAULT_NAME: &str = "frontdesk";
const MAX_NAME: usize = 60;
/// The largest theme file, and the most files a theme may have.
const MAX_FILE: u64 = 1024 * 1024;
const MAX_FILES: usize = 200;

/// What a theme file's extension says it is; `None`: not served.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "css" => "text/css; charset=utf-8",
        _ => return None,
    })
}

/// A theme file name the server serves: one path segment of letters,
/// digits, `.`, `_` and `-`, not starting with a dot.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn color(key: &str, v: &str) -> anyhow::Result<String> {
    let hex = v.strip_prefix('#').unwrap_or("");
    if !matches!(hex.len(), 3 | 6) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("config: branding.{key} must be a colour like #2157d6, not {v:?}");
    }
    Ok(format!("#{}", hex.to_ascii_lowercase()))
}

/// Whether the theme's files have an image called `name`.
pub fn is_image(assets: &BTreeMap<String, Asset>, name: &str) -> bool {
    assets
        .get(name)
        .is_some_and(|a| a.content_type.starts_with("image/"))
}

/// Reads and checks `[branding]` and its theme directory.
pub fn load(c: BrandingConfig) -> anyhow::Result<Branding> {
    let mut b = Branding::default();
    if let Some(name) = c.product_name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            bail!("config: branding.product_name must be one line of 1 to {MAX_NAME} characters");
        }
        name.clone_into(&mut b.product_name);
    }
    if let Some(dir) = &c.theme_dir {
        read_theme(dir, &mut b)?;
    }
    if let Some(logo) = c.logo {
        if logo.contains("://") {
            frontdesk_core::client::validate_link("branding.logo", &logo)
                .map_err(|e| anyhow::anyhow!("config: {e}"))?;
            b.logo_origin = url::Url::parse(&logo)
                .ok()
                .map(|u| u.origin().ascii_serialization());
            b.logo = Some(logo);
        } else if is_image(&b.assets, &logo) {
            b.logo = Some(format!("/theme/{logo}"));
        } else {
            bail!(
                "config: branding.logo {logo:?} is neither an https URL nor an image in theme_dir"
            );
        }
    }
    let light = c
        .accent_color
        .map(|v| color("accent_color", &v))
        .transpose()?;
    let dark = c
        .accent_color_dark
        .map(|v| color("accent_color_dark", &v))
        .transpose()?;
    let mut css = String::new();
    if let Some(l) = &light {
        css += &format!(":root {{ --accent: {l}; --focus: {l}; --link: {l}; }}\n");
    }
    if let Some(d) = &dark {
        css += &format!(
            "@media (prefers-color-scheme: dark) {{ :root {{ --accent: {d}; --focus: {d}; --link: {d}; }} }}\n"
        );
    }
    if !css.is_empty() {
        b.brand_css = Some(css);
    }
    Ok(b)
}

/// The theme directory's files: `*.html` templates, `style.css`, assets.
fn read_theme(dir: &std::path::Path, b: &mut Branding) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("config: branding.theme_dir {}", dir.display()))?;
    let mut count = 0;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        // The entry itself, links not followed: a link could publish any
        // file of the machine at /theme/NAME.
        let kind = entry
            .file_type()
            .with_context(|| format!("theme file {}", path.display()))?;
        if kind.is_symlink() {
            bail!(
                "theme file {}: a symbolic link (copy the file into the theme instead)",
                path.display()
            );
        }
        if !kind.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        count += 1;
        if count > MAX_FILES {
            bail!("theme {}: more than {MAX_FILES} files", dir.display());
        }
        let size = entry
            .metadata()
            .with_context(|| format!("theme file {}", path.display()))?
            .len();
        if size > MAX_FILE {
            bail!("theme file {}: larger than 1 MiB", path.display());
        }
        if name.ends_with(".html") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("theme file {}", path.display()))?;
            b.templates.insert(name, text);
        } else if name == "style.css" {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("theme file {}", path.display()))?;
            b.stylesheet = Some(text);
        } else if let Some(ct) = content_type(&name).filter(|_| valid_file_name(&name)) {
            let body =
                std::fs::read(&path).with_context(|| format!("theme file {}", path.display()))?;
            b.assets.insert(
                name,
                Asset {
                    content_type: ct,
                    body,
                },
            );
        } else {
            bail!(
                "theme file {}: not a template (.html), style.css, or an image or font with a plain name",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn colours_names_and_logos() {
        let b = load(BrandingConfig {
            product_name: Some(" Hotel Example ".into()),
            accent_color: Some("#0B5FFF".into()),
            accent_color_dark: Some("#9cf".into()),
            logo: Some("https://cdn.hotel.example/logo.png".into()),
            ..BrandingConfig::default()
        })
        .unwrap();
        assert_eq!(b.product_name, "Hotel Example");
        assert_eq!(b.logo_origin.as_deref(), Some("https://cdn.hotel.example"));
        let css = b.brand_css.unwrap();
        assert!(css.contains("--accent: #0b5fff;"), "{css}");
        assert!(
            css.contains("prefers-color-scheme: dark") && css.contains("#9cf"),
            "{css}"
        );
        for bad in [
            BrandingConfig {
                accent_color: Some("red".into()),
                ..BrandingConfig::default()
            },
            BrandingConfig {
                accent_color: Some("#12345".into()),
                ..BrandingConfig::default()
            },
            BrandingConfig {
                product_name: Some("two\nlines".into()),
                ..BrandingConfig::default()
            },
            BrandingConfig {
                logo: Some("http://cdn.hotel.example/logo.png".into()),
                ..BrandingConfig::default()
            },
            BrandingConfig {
                logo: Some("logo.png".into()),
                ..BrandingConfig::default()
            },
        ] {
            assert!(load(bad.clone()).is_err(), "{bad:?}");
        }
        assert!(valid_file_name("logo-2.svg"));
        for bad in ["", ".hidden.png", "a/b.png", "..", "a b.png"] {
            assert!(!valid_file_name(bad), "{bad:?}");
        }
    }
}
