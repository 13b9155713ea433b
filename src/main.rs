fn main() {
    println!("maskspec: the analysis CLI is being built; see README.md");
}
