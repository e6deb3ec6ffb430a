import EngramCore
print("bench placeholder")
