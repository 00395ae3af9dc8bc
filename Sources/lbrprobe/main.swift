print("lbrprobe: skeleton")
