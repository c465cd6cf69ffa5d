//! A valid component of a world that is not Carbonaut's: the loader must refuse it by name.

wit_bindgen::generate!({
    inline: "
        package example:other@1.0.0;
        interface greeter { greet: func(name: string) -> string; }
        world greeting { export greeter; }
    ",
    world: "greeting",
});

struct Greeter;

impl exports::example::other::greeter::Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
