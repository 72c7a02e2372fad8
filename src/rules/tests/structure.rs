//! Every structural problem of a file is reported at once, not only the first.

use super::*;

#[test]
fn each_broken_entry_is_reported() {
    let found = problems(
        "rules:\n  - name: a\n    blok: true\n  - name: b\n    block: maybe\n  - name: c\n    requre: [peer]\nflavour: x\n",
    );
    let lines: Vec<&str> = found
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect();
    assert_eq!(lines, ["12:5", "14:12", "16:5", "17:1"], "{found:?}");
    assert!(found[0].contains("`blok` (did you mean `block`?)"));
    assert!(found[2].contains("`requre`"));
    assert!(found[3].contains("unknown key `flavour`"));
}

#[test]
fn a_problem_that_cannot_be_set_aside_is_reported_alone() {
    // A required key of the wrong type: blanking it would invent "missing field".
    let found = problems("rules: 3\nflavour: x\n");
    assert_eq!(found.len(), 1, "{found:?}");
    // Flow-style lists hold several entries on one line: only the first problem is known.
    let found = problems("rules: [{name: a, blok: true}, {name: b, blok: true}]\n");
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn entries_written_without_indentation_are_set_aside_too() {
    let found = problems("rules:\n- name: a\n  blok: true\n- name: b\n  blok: true\n");
    let lines: Vec<&str> = found
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect();
    assert_eq!(lines, ["12:3", "14:3"], "{found:?}");
}
