//! Axis labels: the SPEC field name and its symbol.

/// `"ramanujan_gap_imdb (Δr_imdb)"` for fields with a symbol in SPEC.md, the name alone
/// otherwise.
pub fn axis_label(field: &str) -> String {
    let symbol = match field {
        "ramanujan_gap" => "Δr",
        "ramanujan_gap_imdb" => "Δr_imdb",
        "ramanujan_gap_norm" => "Δr / bound",
        "ramanujan_gap_norm_imdb" => "Δr_imdb, normalized",
        "spectral_gap_bound" => "Δs",
        "spectral_gap_bound_imdb" => "Δs_imdb",
        "weighted_gap" => "λ",
        "weighted_gap_imsg" => "λ_imsg",
        // SPEC's σ1(B), σ2(B): a μ with a combining hat is drawn beside, not over, the μ.
        "mu0" => "σ₁(B)",
        "mu_hat" => "σ₂(B)",
        "weighted_mu0" => "σ₁(B_w)",
        "weighted_mu_hat" => "σ₂(B_w)",
        "full_spectrum_l2" => "‖(Δr, λ, Δr_imdb, λ_imsg)‖₂",
        _ => return field.to_string(),
    };
    format!("{field} ({symbol})")
}

/// The symbol of a field for titles (`Δr_imdb` for `ramanujan_gap_imdb`), or the field name
/// when it has none.
pub fn axis_symbol(field: &str) -> String {
    let label = axis_label(field);
    match (label.find('('), label.rfind(')')) {
        (Some(open), Some(close)) if close > open => label[open + 1..close].to_string(),
        _ => label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_name_and_symbol() {
        assert_eq!(axis_label("ramanujan_gap_imdb"), "ramanujan_gap_imdb (Δr_imdb)");
        assert_eq!(axis_label("weighted_gap_imsg"), "weighted_gap_imsg (λ_imsg)");
        assert_eq!(axis_label("test_acc"), "test_acc");
        assert_eq!(axis_label("mu_hat"), "mu_hat (σ₂(B))");
        assert_eq!(axis_symbol("weighted_mu_hat"), "σ₂(B_w)");
        assert_eq!(axis_symbol("density"), "density");
    }
}
