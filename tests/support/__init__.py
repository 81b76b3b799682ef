"""What the tests share: the bot under test, a recording connector, activities, waiting."""
