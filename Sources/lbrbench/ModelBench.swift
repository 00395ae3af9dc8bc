func benchModel() { print("model: not yet") }
