//! What a spreadsheet does to a cell, and how a reason quotes one: the rules the input reader
//! and the operations' own row checks (an IMEI) share.

/// A cell without Excel's text markers: `'8986…` and `="8986…"` are the ways a spreadsheet keeps
/// a long number as text.
pub fn strip_excel_markers(cell: &str) -> &str {
    let c = cell.strip_prefix('\'').unwrap_or(cell);
    c.strip_prefix("=\"")
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(c)
        .trim()
}

/// `8.98603E+19`, `8.98603e19`: how Excel shows (and then saves) a 20-digit number.
pub fn excel_rounded(cell: &str) -> bool {
    let upper = cell.to_ascii_uppercase();
    let Some((mantissa, exp)) = upper.split_once('E') else {
        return false;
    };
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exp.is_empty()
        && exp.bytes().all(|b| b.is_ascii_digit())
}

/// A cell as a reason quotes it: at most 40 characters, so a runaway cell stays out of the
/// journal.
pub fn shown(cell: &str) -> String {
    match cell.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &cell[..cut]),
        None => cell.to_string(),
    }
}

/// Text from a file as a message shows it: control characters (escape sequences, NUL, CR, LF)
/// written as `\u{1b}` and the like, so a hostile file cannot drive the terminal.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A message for the terminal: as [`escape_controls`], but line breaks and tabs of the
/// message's own layout kept.
pub fn escape_terminal(text: &str) -> String {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Checks an IMEI cell (bind-imei): Excel's text markers stripped, exactly 15 digits.
pub fn validate_imei(cell: &str) -> Result<String, String> {
    let imei = strip_excel_markers(cell.trim());
    if imei.len() == 15 && imei.bytes().all(|b| b.is_ascii_digit()) {
        Ok(imei.to_string())
    } else if excel_rounded(imei) {
        Err(format!(
            "IMEI {imei:?} was rounded by Excel into scientific notation: format the column as \
             text and export it again"
        ))
    } else {
        Err(format!("IMEI {:?} is not 15 digits", shown(imei)))
    }
}
