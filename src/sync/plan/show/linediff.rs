//! The smallest edit between two sequences (lines of a string, elements of a list), and the
//! hunks a reviewer reads: what was removed and added, with a few unchanged items of context
//! and a count of those left out. Pure; knows nothing of plans or of how a line is shown.

/// One step of an edit script, by index into the two sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Same(usize, usize),
    Removed(usize),
    Added(usize),
}

/// Past this many cells the longest-common-subsequence table is not built: the changed middle
/// (after the common start and end are set aside) is shown as removed, then added. 4 million
/// cells is a 2,000-line function rewritten throughout; a few megabytes and milliseconds.
const MAX_CELLS: usize = 4_000_000;

/// The edit script turning `a` into `b`: unchanged items kept in order, the rest removed or
/// added, removals before additions within each changed run.
pub fn edits<T: PartialEq>(a: &[T], b: &[T]) -> Vec<Edit> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut out: Vec<Edit> = (0..prefix).map(|i| Edit::Same(i, i)).collect();
    let (n, m) = (mid_a.len(), mid_b.len());
    if n.saturating_mul(m) > MAX_CELLS || n == 0 || m == 0 {
        out.extend((0..n).map(|i| Edit::Removed(prefix + i)));
        out.extend((0..m).map(|j| Edit::Added(prefix + j)));
    } else {
        // lcs[i][j]: the longest common subsequence of mid_a[i..] and mid_b[j..].
        let width = m + 1;
        let mut lcs = vec![0u32; (n + 1) * width];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * width + j] = if mid_a[i] == mid_b[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let flush = |out: &mut Vec<Edit>, removed: &mut Vec<Edit>, added: &mut Vec<Edit>| {
            out.append(removed);
            out.append(added);
        };
        while i < n || j < m {
            if i < n && j < m && mid_a[i] == mid_b[j] {
                flush(&mut out, &mut removed, &mut added);
                out.push(Edit::Same(prefix + i, prefix + j));
                i += 1;
                j += 1;
            } else if j == m || (i < n && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
                removed.push(Edit::Removed(prefix + i));
                i += 1;
            } else {
                added.push(Edit::Added(prefix + j));
                j += 1;
            }
        }
        flush(&mut out, &mut removed, &mut added);
    }
    out.extend((0..suffix).map(|k| Edit::Same(a.len() - suffix + k, b.len() - suffix + k)));
    out
}

/// One line of a hunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
    /// This many unchanged lines left out.
    Skipped(usize),
}

/// Lines of context shown around each change, as `diff -u` and Terraform show them.
pub const CONTEXT: usize = 3;

/// The line diff of two strings: changed lines with [`CONTEXT`] unchanged lines around each
/// run, and the unchanged lines between left out and counted.
pub fn line_diff<'a>(before: &'a str, after: &'a str) -> Vec<Piece<'a>> {
    let a: Vec<&str> = before.split('\n').collect();
    let b: Vec<&str> = after.split('\n').collect();
    let script = edits(&a, &b);
    // Which unchanged lines are near enough to a change to be shown.
    let changed: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, e)| !matches!(e, Edit::Same(..)))
        .map(|(k, _)| k)
        .collect();
    let mut shown = vec![false; script.len()];
    for &k in &changed {
        let from = k.saturating_sub(CONTEXT);
        let to = (k + CONTEXT + 1).min(script.len());
        shown[from..to].iter_mut().for_each(|s| *s = true);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for (k, edit) in script.iter().enumerate() {
        if !shown[k] {
            skipped += 1;
            continue;
        }
        if skipped > 0 {
            out.push(Piece::Skipped(skipped));
            skipped = 0;
        }
        out.push(match *edit {
            Edit::Same(i, _) => Piece::Same(a[i]),
            Edit::Removed(i) => Piece::Removed(a[i]),
            Edit::Added(j) => Piece::Added(b[j]),
        });
    }
    if skipped > 0 {
        out.push(Piece::Skipped(skipped));
    }
    out
}

/// Characters of context kept on each side of the change in a long one-line string.
pub const EXCERPT_CONTEXT: usize = 40;

/// The changed middle of two different one-line strings, with [`EXCERPT_CONTEXT`] characters
/// of what they share on each side: `(before part, after part, characters left out at the
/// start, characters left out at the end)`. The two parts always differ when the strings do.
pub fn excerpt(before: &str, after: &str) -> (String, String, usize, usize) {
    let a: Vec<char> = before.chars().collect();
    let b: Vec<char> = after.chars().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let start = prefix.saturating_sub(EXCERPT_CONTEXT);
    let tail = suffix.saturating_sub(EXCERPT_CONTEXT);
    let part = |s: &[char]| s[start..s.len() - tail].iter().collect::<String>();
    (part(&a), part(&b), start, tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Same(s) => format!(" {s}"),
                Piece::Removed(s) => format!("-{s}"),
                Piece::Added(s) => format!("+{s}"),
                Piece::Skipped(n) => format!("({n})"),
            })
            .collect()
    }

    #[test]
    fn line_diffs_show_the_change_with_context_and_count_the_rest() {
        let long_before: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let long_after = long_before.replace("line 50\n", "line fifty\n");
        let cases: Vec<(&str, &str, Vec<&str>)> = vec![
            ("a\nb\nc", "a\nB\nc", vec![" a", "-b", "+B", " c"]),
            ("a", "a\nb", vec![" a", "+b"]),
            ("a\nb", "b", vec!["-a", " b"]),
            ("", "x", vec!["-", "+x"]),
            (
                &long_before,
                &long_after,
                vec![
                    "(47)",
                    " line 47",
                    " line 48",
                    " line 49",
                    "-line 50",
                    "+line fifty",
                    " line 51",
                    " line 52",
                    " line 53",
                    "(47)",
                ],
            ),
        ];
        for (before, after, expected) in cases {
            assert_eq!(
                show(&line_diff(before, after)),
                expected,
                "{before:?} -> {after:?}"
            );
        }
    }

    #[test]
    fn a_one_word_change_in_a_5000_character_query_is_one_line_out_one_in() {
        let query: String = (0..150)
            .map(|i| format!("  SELECT column_{i} FROM table_{i} WHERE x = {i}\n"))
            .collect();
        assert!(query.len() > 5000);
        let edited = query.replace("FROM table_75 ", "FROM tabel_75 ");
        let pieces = line_diff(&query, &edited);
        let removed: Vec<_> = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Removed(_)))
            .collect();
        let added: Vec<_> = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Added(_)))
            .collect();
        assert_eq!(
            removed,
            [&Piece::Removed(
                "  SELECT column_75 FROM table_75 WHERE x = 75"
            )]
        );
        assert_eq!(
            added,
            [&Piece::Added(
                "  SELECT column_75 FROM tabel_75 WHERE x = 75"
            )]
        );
        assert!(pieces.len() <= 2 + 2 * CONTEXT + 2, "{pieces:?}");
    }

    #[test]
    fn edits_of_element_lists() {
        let cases: Vec<(&[i32], &[i32], Vec<Edit>)> = vec![
            (
                &[1, 2, 3],
                &[1, 2, 3],
                vec![Edit::Same(0, 0), Edit::Same(1, 1), Edit::Same(2, 2)],
            ),
            (
                &[1, 2],
                &[1, 2, 3],
                vec![Edit::Same(0, 0), Edit::Same(1, 1), Edit::Added(2)],
            ),
            (
                &[1, 2, 3],
                &[1, 3],
                vec![Edit::Same(0, 0), Edit::Removed(1), Edit::Same(2, 1)],
            ),
            (
                &[1, 2, 3],
                &[4, 2, 5],
                vec![
                    Edit::Removed(0),
                    Edit::Added(0),
                    Edit::Same(1, 1),
                    Edit::Removed(2),
                    Edit::Added(2),
                ],
            ),
            (&[], &[7], vec![Edit::Added(0)]),
        ];
        for (a, b, expected) in cases {
            assert_eq!(edits(a, b), expected, "{a:?} -> {b:?}");
        }
    }

    #[test]
    fn excerpts_of_long_one_line_strings_always_differ() {
        let base = "x".repeat(300);
        let cases = [
            (format!("{base}A{base}"), format!("{base}B{base}")),
            (base.clone(), format!("{base}y")),
            (format!("y{base}"), base.clone()),
            (format!("{base}ab{base}"), format!("{base}a{base}")),
        ];
        for (before, after) in cases {
            let (b, a, left, right) = excerpt(&before, &after);
            assert_ne!(b, a, "{before} -> {after}");
            assert!(b.chars().count() <= 2 * EXCERPT_CONTEXT + 2, "{b}");
            assert_eq!(left + b.chars().count() + right, before.chars().count());
            assert_eq!(left + a.chars().count() + right, after.chars().count());
        }
    }
}
